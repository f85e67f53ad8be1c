"""Reading what metronome.efi printed on COM1.

The log is split into lines; carriage returns and the terminal escape sequences the firmware's
own console writes are removed. metronome.efi's machine-readable lines start with a marker:

    METRONOME-CAPS {json}     the CPU's VMX capabilities (boot/efi_main.cpp)
    METRONOME-REPORT {json}   the run report (to come)
    METRONOME-ERROR text      something went wrong inside metronome.efi
    METRONOME-END             the last line of every run
"""
import json
import re

END_MARKER = "METRONOME-END"
CAPS_MARKER = "METRONOME-CAPS"
REPORT_MARKER = "METRONOME-REPORT"
ERROR_MARKER = "METRONOME-ERROR"

_ESCAPES = re.compile(r"\x1b(\[[0-9;=?]*[ -/]*[@-~]|[@-Z\\-_])")


def clean_line(raw: str) -> str:
    return _ESCAPES.sub("", raw).replace("\r", "").replace("\x00", "")


class LineSplitter:
    """Turns a byte stream that arrives in pieces into clean, complete text lines."""

    def __init__(self):
        self._pending = b""

    def feed(self, data: bytes):
        self._pending += data
        *complete, self._pending = self._pending.split(b"\n")
        return [clean_line(c.decode("utf-8", "replace")) for c in complete]

    def flush(self):
        rest, self._pending = self._pending, b""
        return [clean_line(rest.decode("utf-8", "replace"))] if rest.strip() else []


def split_lines(data: bytes):
    splitter = LineSplitter()
    return splitter.feed(data) + splitter.flush()


def marker_payloads(lines, marker: str):
    """The text after `marker ` on each line that starts with it."""
    prefix = marker + " "
    return [line[len(prefix):] for line in lines if line.startswith(prefix)]


def json_line(lines, marker: str):
    """The JSON object of the first `marker {json}` line, or None when there is none.
    Raises ValueError when the line is there but not valid JSON."""
    for payload in marker_payloads(lines, marker):
        try:
            return json.loads(payload)
        except json.JSONDecodeError as e:
            raise ValueError(f"{marker} line is not valid JSON: {e}: {payload[:200]}") from e
    return None


def ended(lines) -> bool:
    return any(line.strip() == END_MARKER for line in lines)


def errors(lines):
    return marker_payloads(lines, ERROR_MARKER)
