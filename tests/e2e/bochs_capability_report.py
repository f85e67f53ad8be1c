#!/usr/bin/env python3
"""e2e: boot metronome.efi in Bochs 2.7 (cpu corei7_skylake_x) through OVMF and check its
METRONOME-CAPS line against what Bochs is known to offer (testdata/vmx-caps)."""
import sys

from e2e_support import SKIP, Checks, arguments
from metronome_tool import bochs, caps_file, config, serial_log

BOCHS_CAPS = "vmx-caps/bochs-2.7-corei7_skylake_x.txt"


def main():
    args = arguments(__doc__, default_timeout=100)
    if not bochs.available():
        print("bochs is not installed: skipped")
        return SKIP
    expected_msrs = caps_file.load(args.testdata / BOCHS_CAPS)
    result = bochs.run(args.efi, config.DEFAULT_CONFIG, args.work_dir, timeout=args.timeout)
    check = Checks()
    check.expect(not result.timed_out, f"Bochs did not finish within {args.timeout:.0f} s")
    check.expect(result.ended, "no METRONOME-END line: the run did not reach its end")
    check.equal(serial_log.errors(result.lines), [], "METRONOME-ERROR lines")
    try:
        caps = result.json_line(serial_log.CAPS_MARKER)
    except ValueError as e:
        caps = None
        check.expect(False, str(e))
    if check.expect(caps is not None, "no METRONOME-CAPS line"):
        check.equal(caps["vmx"], True, "VMX present")
        check.equal(caps["preemption_timer"], True, "preemption timer")
        check.equal(caps["preemption_timer_rate"], 0, "preemption timer rate")
        check.equal(caps["save_preemption_timer"], True, "save preemption timer value")
        check.equal(caps["ept"], True, "EPT")
        check.equal(caps["ept_4level"] and caps["ept_wb"], True, "EPT 4-level walk with WB")
        check.equal(caps["unrestricted_guest"], True, "unrestricted guest")
        check.equal(caps["hlt_activity"], True, "HLT activity state")
        check.equal(caps["hlt_exiting"], True, "HLT exiting settable both ways")
        check.equal(caps["feature_control_state"], "unlocked", "IA32_FEATURE_CONTROL under OVMF")
        check.equal(caps["lacks"] + caps["lacks_optional"], [], "what Metronome would lack")
        check.equal(caps["can_run"], True, "can run")
        reported = {name: int(value, 16) for name, value in caps["msrs"].items()}
        for name, value in sorted(expected_msrs.items()):
            check.equal(hex(reported.get(name, -1)), hex(value), name)
        check.equal(sorted(reported), sorted(expected_msrs), "the set of MSRs read")
    check.expect(any("Metronome would lack: nothing: this CPU can run Metronome" in line
                     for line in result.lines), "the report's verdict line")
    return check.finish(result)


if __name__ == "__main__":
    sys.exit(main())
