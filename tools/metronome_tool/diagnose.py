"""Why a run ended without a report, in words, from what metronome.efi printed on the serial port
and what the emulator said (its own output and, for Bochs, bochs.log).

The first reason that applies explains the run; `explain` returns it with the evidence: the
capability line's verdict (a CPU without VMX), metronome.efi's own error lines, a Bochs that could
not start or whose CPU cannot run 64-bit UEFI firmware, a time-out, or the last line printed.
"""
import pathlib

from . import serial_log

# What to do on a machine whose CPU the emulator gives no VMX (QEMU's TCG, a host without nested
# VMX): the two platforms Metronome can run on.
WHERE_IT_RUNS = ("Metronome needs VMX: use Bochs (`--platform bochs`, the default), or QEMU with "
                 "KVM on an Intel host with nested VMX (`--platform qemu-kvm`)")

# bochs.log / emulator output lines that explain a run that never reached metronome.efi.
BOCHS_SIGNS = [
    ("EFER MSR is not supported",
     "the emulated CPU has no long mode (64-bit): OVMF, a 64-bit UEFI firmware, cannot start on "
     "it, so metronome.efi never ran"),
    ("RFB could not bind",
     "Bochs could not open its display port (another Bochs took it at the same moment)"),
    ("could not open hard drive image",
     "Bochs could not open the ESP image (a stale .lock beside it from a killed Bochs?)"),
    ("ROM: couldn't open ROM image",
     "Bochs could not read the firmware image (is Debian's ovmf package installed?)"),
]


def _bochs_sign(result):
    texts = []
    for path in (result.output_path, pathlib.Path(result.work_dir) / "bochs.log"):
        try:
            texts.append(pathlib.Path(path).read_text(errors="replace"))
        except OSError:
            pass
    for needle, words in BOCHS_SIGNS:
        if any(needle in text for text in texts):
            return words
    return None


def capability_verdict(lines):
    """(can_run, words) from the METRONOME-CAPS line, or (None, None) without one."""
    try:
        caps = serial_log.json_line(lines, serial_log.CAPS_MARKER)
    except ValueError:
        return None, None
    if caps is None:
        return None, None
    if not caps.get("vmx"):
        return False, "the CPU has no VMX (CPUID.1:ECX[5] = 0): Metronome cannot run here"
    if not caps.get("can_run"):
        return False, "the CPU lacks " + ", ".join(caps.get("lacks", [])) + \
            ": Metronome cannot run on it"
    return True, None


def explain(result):
    """One sentence (possibly with a second, 'what to do') for a run without METRONOME-REPORT,
    naming the platform it ran on."""
    where = result.platform
    can_run, words = capability_verdict(result.lines)
    if can_run is False:
        advice = f". {WHERE_IT_RUNS}" if "no VMX" in words else ""
        return f"{where}: {words}{advice}"
    errors = serial_log.errors(result.lines)
    if errors:
        return f"{where}: metronome.efi stopped with an error: " + "; ".join(errors)
    if where == "bochs":
        sign = _bochs_sign(result)
        if sign:
            return f"{where}: {sign}"
    printed = [line for line in result.lines if line.strip()]
    if result.timed_out:
        last = f"; the last line it printed: {printed[-1]!r}" if printed else \
            "; metronome.efi printed nothing (still in the firmware?)"
        return f"{where}: no report within the time limit ({result.wall_seconds:.0f} s){last}"
    status = ("was stopped" if result.exit_status is None
              else f"exited with status {result.exit_status}")
    if not printed:
        return f"{where} {status} before metronome.efi printed anything"
    if serial_log.ended(result.lines):
        return f"{where}: metronome.efi ended without a report (it ran no guests)"
    return f"{where} {status} in the middle of the run; the last line printed: {printed[-1]!r}"
