#!/usr/bin/env python3
"""e2e: boot metronome.efi on one of Bochs 2.7's Intel CPU models with four spinning guests
(fixed policy, 1 ms slices, 48 ms = 12 frames) and check that model's row of the CPU-model table
(tools/metronome_tool/cpu_models.py): the capability MSRs equal its file in tests/data/vmx-caps,
the capability line lacks exactly what the row says, and then either every guest got 25% ± 0.5
with the fallbacks the row names in the report, or metronome.efi refused before VMXON with the
reason in words, or (no VMX / no long mode) it said why nothing ran."""
import sys

from e2e_support import SKIP, Checks, arguments_with
from metronome_tool import bochs, caps_file, cpu_models, diagnose, report, serial_log

CONFIG = """duration_ms = 48
slice_us = 1000
policy = fixed
on_finish = shutdown
[guest a]
image = spin
[guest b]
image = spin
[guest c]
image = spin
[guest d]
image = spin
"""
TOLERANCE = 0.5
IPS = 1_000_000_000


def check_caps(check, args, model, result):
    try:
        caps = result.json_line(serial_log.CAPS_MARKER)
    except ValueError as e:
        check.expect(False, str(e))
        return None
    if not check.expect(caps is not None, "no METRONOME-CAPS line"):
        return None
    check.equal(caps["brand"], model.brand, "brand string")
    check.equal(caps["vmx"], model.has_vmx, "VMX present")
    check.equal(tuple(caps["lacks"]), model.lacks, "what Metronome lacks (required)")
    check.equal(tuple(caps["lacks_optional"]), model.lacks_optional, "what it lacks (optional)")
    check.equal(caps["can_run"], model.outcome == cpu_models.RUNS, "can_run")
    if model.has_vmx:
        expected = caps_file.load(args.testdata / model.caps_file)
        reported = caps_file.from_caps_line(caps)
        for name, value in sorted(expected.items()):
            check.equal(hex(reported.get(name, -1)), hex(value), name)
        check.equal(sorted(reported), sorted(expected), "the set of MSRs read")
    return caps


def check_runs(check, model, result):
    check.equal(serial_log.errors(result.lines), [], "METRONOME-ERROR lines")
    try:
        rep = report.parse(result.lines)
    except ValueError as e:
        check.expect(False, str(e))
        return
    for problem in report.totals_problems(rep):
        check.expect(False, f"totals: {problem}")
    for g in rep["guests"]:
        got = report.share(g)
        check.expect(abs(got - 25) <= TOLERANCE,
                     f"{g['name']}: {got:.2f}% of the CPU, expected 25% ± {TOLERANCE}")
        check.equal(g["state"], "running", f"{g['name']} at the end")
    fallbacks = tuple(f["lacks"] for f in rep["platform"]["fallbacks"])
    check.equal(fallbacks, model.lacks_optional, "fallbacks named in the report")
    check.equal(rep["platform"]["idle_method"], model.idle, "idle method")
    print(report.table(rep))
    print(f"idle method: {rep['platform']['idle_method']}")


def check_refused(check, model, result):
    errors = serial_log.errors(result.lines)
    check.equal(len(errors), 1, "one METRONOME-ERROR line")
    words = errors[0] if errors else ""
    check.expect(words.startswith("this CPU cannot run Metronome: it lacks "),
                 f"the refusal in words: {words!r}")
    for need in ("the VMX preemption timer: it is what ends every slice",
                 "EPT with 4-level walks and write-back paging structures: it is how each"):
        if need.split(":")[0].startswith("EPT") and "ept" not in model.lacks:
            continue
        if need.startswith("the VMX") and "preemption_timer" not in model.lacks:
            continue
        check.expect(need in words, f"the refusal names {need.split(':')[0]!r}: {words!r}")
    check.expect(not any(l.startswith(report.MARKER) for l in result.lines), "no report")
    check.expect(not any("entering VMX root operation" in l for l in result.lines),
                 "VMX root operation was never entered")


def main():
    args = arguments_with(__doc__, default_timeout=180, extra=lambda p: p.add_argument(
        "--model", required=True, choices=sorted(cpu_models.BY_NAME)))
    if not bochs.available():
        print("bochs is not installed: skipped")
        return SKIP
    model = cpu_models.BY_NAME[args.model]
    result = bochs.run(args.efi, CONFIG, args.work_dir, timeout=args.timeout, ips=IPS,
                       progress=False, cpu_model=model.name)
    check = Checks()
    if model.outcome == cpu_models.NO_LONG_MODE:
        check.equal(result.lines, [], "nothing on the serial port")
        words = diagnose.explain(result)
        check.expect("no long mode" in words and "OVMF" in words,
                     f"the tool's explanation: {words!r}")
        print(f"explanation: {words}")
        return check.finish(result)
    check.expect(result.ended, "no METRONOME-END line")
    check_caps(check, args, model, result)
    if model.outcome == cpu_models.RUNS:
        check_runs(check, model, result)
    elif model.outcome == cpu_models.REFUSED:
        check_refused(check, model, result)
    else:  # NO_VMX
        errors = serial_log.errors(result.lines)
        check.expect(len(errors) == 1 and "it lacks VMX (CPUID.1:ECX[5] = 0)" in errors[0],
                     f"the refusal in words: {errors!r}")
        words = diagnose.explain(result)
        check.expect("no VMX" in words and "--platform qemu-kvm" in words,
                     f"the tool's explanation: {words!r}")
    return check.finish(result)


if __name__ == "__main__":
    sys.exit(main())
