"""The metronome.cfg a tool run puts on the ESP.

A run under the tool must end by itself, so the configuration says `on_finish = shutdown`
(metronome.efi then powers the emulator off after printing METRONOME-END). A user's file that
does not set on_finish gets the line added among the global keys, i.e. before the first
`[section]`, so that line numbers above the first section stay those of the user's file.
A user who sets on_finish explicitly keeps it; the tool still stops the emulator after the end
marker.
"""
import math
import re

DEFAULT_CONFIG = (
    "# Written by tools/metronome run: no configuration was given.\n"
    "on_finish = shutdown\n"
)

_ON_FINISH = re.compile(r"^\s*on_finish\s*=")
_SECTION = re.compile(r"^\s*\[")
_GUEST = re.compile(r"^\s*\[\s*guest\s")
_MEMORY = re.compile(r"^\s*memory_mib\s*=\s*(\d+)\s*$")

# The emulator's memory for a configuration (bochs.py): what the firmware, metronome.efi and the
# report take (FIRMWARE_MIB, measured: 213 of 256 MiB are free when the run starts) plus each
# guest's own memory and its EPT tables, VMCS and FPU area (GUEST_OVERHEAD_MIB, 25 KiB measured
# for a 2 MiB guest, 128 KiB allowed), in steps of MEGS_STEP, never below DEFAULT_MEGS (the
# benchmarks' machine) nor above MAX_MEGS (the
# most Bochs 2.7 accepts: `megs` above 2048 is refused as host_size out of range).
DEFAULT_MEGS = 256
MAX_MEGS = 2048
MEGS_STEP = 64
FIRMWARE_MIB = 64
GUEST_OVERHEAD_MIB = 1 / 8
DEFAULT_GUEST_MIB = 2  # vmx/config/config.hpp: memory_mib's default


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


def with_global(text: str, key: str, value: str) -> str:
    """The configuration with `key = value` as its first line (a global key)."""
    return f"{key} = {value}\n{text}"


_KEY = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
DEFAULT_MEMORY_MIB = 2


def guests(text: str):
    """The guests of a configuration as the tools need to know them (not a validator: that is
    metronome.efi's job): [(name, {key: value})], with the global keys inherited where a guest
    does not set them. Values are raw text; a `cmdline` keeps what follows its `=`."""
    global_keys, found, current = {}, [], None
    for raw in text.splitlines():
        line = raw if raw.lstrip().startswith("cmdline") else raw.split("#", 1)[0]
        m = re.match(r"^\s*\[\s*guest\s+([^\]\s]+)\s*\]", line)
        if m:
            current = (m.group(1), {})
            found.append(current)
            continue
        m = _KEY.match(line)
        if m:
            (current[1] if current else global_keys)[m.group(1)] = m.group(2)
    return [(name, {**global_keys, **keys}) for name, keys in found]


def guest_memory_mib(text: str):
    """Each guest's memory_mib (the default where none is set)."""
    out = []
    for _, keys in guests(text):
        try:
            out.append(int(keys.get("memory_mib", DEFAULT_MEMORY_MIB)))
        except ValueError:
            out.append(DEFAULT_MEMORY_MIB)
    return out


def esp_paths(text: str, key: str):
    """The distinct ESP paths the guests name under `key` (kernel, initrd, image)."""
    return list(dict.fromkeys(keys[key] for _, keys in guests(text) if keys.get(key, "").startswith("\\")))


def cpus_needed(text: str) -> int:
    """How many processors an emulator needs for this configuration: one more than the highest
    `cpu` any guest is on (a value that is not a number is left to metronome.efi to refuse)."""
    highest = 0
    for _, keys in guests(text):
        value = keys.get("cpu", "0").strip()
        if value.isdigit():
            highest = max(highest, int(value))
    return highest + 1


def memory_megs(text: str, files=None) -> int:
    """The megs of an emulator that holds this configuration's guests and the files metronome.efi
    reads into RAM (guest images, kernels, initrds: `files`, {ESP path: bytes}, each once; see
    DEFAULT_MEGS)."""
    default = DEFAULT_GUEST_MIB
    guests = []  # each guest's memory_mib, None until set
    for raw in text.splitlines():
        line = raw.split("#", 1)[0]
        if _GUEST.match(line):
            guests.append(None)
            continue
        m = _MEMORY.match(line)
        if m and guests:
            guests[-1] = int(m.group(1))
        elif m:
            default = int(m.group(1))
    need = FIRMWARE_MIB + sum((default if g is None else g) + GUEST_OVERHEAD_MIB for g in guests)
    need += sum(len(data) for data in (files or {}).values()) / (1 << 20)
    megs = math.ceil(need / MEGS_STEP) * MEGS_STEP
    return max(DEFAULT_MEGS, min(MAX_MEGS, megs))
