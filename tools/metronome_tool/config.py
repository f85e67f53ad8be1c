"""The metronome.cfg a tool run puts on the ESP.

A run under the tool must end by itself, so the configuration says `on_finish = shutdown`
(metronome.efi then powers the emulator off after printing METRONOME-END). A user's file that
does not set on_finish gets the line added among the global keys, i.e. before the first
`[section]`, so that line numbers above the first section stay those of the user's file.
A user who sets on_finish explicitly keeps it; the tool still stops the emulator after the end
marker.
"""
import re

DEFAULT_CONFIG = (
    "# Written by tools/metronome run: no configuration was given.\n"
    "on_finish = shutdown\n"
)

_ON_FINISH = re.compile(r"^\s*on_finish\s*=")
_SECTION = re.compile(r"^\s*\[")


def ensure_run_ends(text: str):
    """Returns (config text, note or None describing what was changed)."""
    lines = text.splitlines(keepends=True)
    insert_at = len(lines)
    for i, line in enumerate(lines):
        if _SECTION.match(line):
            insert_at = i
            break
        if _ON_FINISH.match(line.split("#", 1)[0]):
            return text, None
    if lines and not lines[-1].endswith("\n") and insert_at == len(lines):
        lines[-1] += "\n"
    lines.insert(insert_at, "on_finish = shutdown\n")
    note = f"added `on_finish = shutdown` as line {insert_at + 1} of the ESP's metronome.cfg"
    return "".join(lines), note
