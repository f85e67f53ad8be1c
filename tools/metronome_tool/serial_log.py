"""Reading what metronome.efi printed on COM1.

The log is split into lines; carriage returns and the terminal escape sequences the firmware's
own console writes are removed. metronome.efi's machine-readable lines start with a marker:

    METRONOME-CAPS {json}     the CPU's VMX capabilities (boot/efi_main.cpp)
    METRONOME-REPORT {json}   the run report (to come)
    METRONOME-ERROR text      something went wrong inside metronome.efi
    METRONOME-INPUT name      COM1's input goes to that guest from now on (console_input)
    METRONOME-END             the last line of every run
"""
import json
import re

END_MARKER = "METRONOME-END"
CAPS_MARKER = "METRONOME-CAPS"
REPORT_MARKER = "METRONOME-REPORT"
ERROR_MARKER = "METRONOME-ERROR"
# "METRONOME-INPUT NAME": from now on what arrives on COM1 goes to guest NAME (console_input).
INPUT_MARKER = "METRONOME-INPUT"

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


# A guest's console line is "[name] text"; "[name]+ text" is the start of one it has not ended
# yet, handed on early because the guest is interactive (console_input: its prompt, the echo of
# what is typed). The next pieces and the line itself continue it.
_PIECE = re.compile(r"^\[([^\]\s]+)\]\+ (.*)$", re.S)
_GUEST_LINE = re.compile(r"^\[([^\]\s]+)\] (.*)$", re.S)


def piece_of(line: str):
    """(guest name, text) when `line` is a piece of an unfinished line, else None."""
    m = _PIECE.match(line)
    return (m[1], m[2]) if m else None


class PieceJoiner:
    """Joins each guest's pieces to the line that finishes them: whole lines come out."""

    def __init__(self):
        self._open = {}

    def feed(self, line: str):
        piece = piece_of(line)
        if piece is not None:
            self._open[piece[0]] = self._open.get(piece[0], "") + piece[1]
            return []
        m = _GUEST_LINE.match(line)
        if m and m[1] in self._open:
            return [f"[{m[1]}] {self._open.pop(m[1])}{m[2]}"]
        return [line]

    def flush(self):
        rest = [f"[{name}] {text}" for name, text in self._open.items()]
        self._open = {}
        return rest


def split_lines(data: bytes):
    """The whole lines of a serial log (pieces joined)."""
    splitter, joiner = LineSplitter(), PieceJoiner()
    lines = [whole for line in splitter.feed(data) + splitter.flush() for whole in joiner.feed(line)]
    return lines + joiner.flush()


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
