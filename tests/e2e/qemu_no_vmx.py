#!/usr/bin/env python3
"""e2e: boot metronome.efi in QEMU (TCG, which has no VMX) through OVMF and check that it says
VMX is absent and Metronome cannot run, then ends cleanly through isa-debug-exit."""
import sys

from e2e_support import SKIP, Checks, arguments
from metronome_tool import config, qemu, serial_log


def main():
    args = arguments(__doc__, default_timeout=60)
    if not qemu.available():
        print("qemu-system-x86_64 is not installed: skipped")
        return SKIP
    result = qemu.run(args.efi, config.DEFAULT_CONFIG, args.work_dir, timeout=args.timeout)
    check = Checks()
    check.expect(not result.timed_out, f"QEMU did not finish within {args.timeout:.0f} s")
    check.expect(result.ended, "no METRONOME-END line: the run did not reach its end")
    check.equal(result.exit_status, qemu.FINISHED_EXIT_STATUS,
                "QEMU exit status (isa-debug-exit write of 1 by metronome.efi)")
    try:
        caps = result.json_line(serial_log.CAPS_MARKER)
    except ValueError as e:
        caps = None
        check.expect(False, str(e))
    if check.expect(caps is not None, "no METRONOME-CAPS line"):
        check.equal(caps["vmx"], False, "VMX present")
        check.equal(caps["can_run"], False, "can run")
        check.equal(caps["lacks"], ["vmx"], "what Metronome would lack")
        check.equal(caps["msrs"], {}, "MSRs read without VMX")
    check.expect(any(line.startswith("VMX: absent") for line in result.lines),
                 "a 'VMX: absent' line")
    check.expect(any("this CPU cannot run Metronome: it lacks VMX" in line for line in result.lines),
                 "a line saying Metronome cannot run")
    return check.finish(result)


if __name__ == "__main__":
    sys.exit(main())
