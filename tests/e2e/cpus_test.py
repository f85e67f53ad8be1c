#!/usr/bin/env python3
"""e2e: guests on two CPUs of one machine (Bochs `cpu: count=2`, the `cpu` key), at 10^9
instructions per second. Each CPU has its own VMX root and its own schedule; nothing one CPU's
guests do may change the CPU time another CPU's guests get. Scenarios:
  - isolation: the thread's scenario (three spinners and an idle guest, `shared`, HLT trapped)
    on CPU 0, while CPU 1 runs an exit storm, a guest that crashes and a console flood. CPU 0's
    shares must be those of the same scenario alone on a one-CPU machine, within 0.1 percentage
    points (the reference run is made by the test, on the same metronome.efi);
  - both: the thread's scenario on CPU 0 and CPU 1 at once; each CPU's shares as on one CPU;
  - errors: a guest on a CPU the machine does not have is refused before VMX, in words; VMXON
    failing on both CPUs is reported per CPU, and both give the firmware their state back.
Every CPU's books must add up, every CPU must give the firmware its state back, and the report
must say which CPU each guest ran on.
"""
from e2e_support import SKIP, Checks, arguments_with
from metronome_tool import bochs, report, scenarios, serial_log

TOLERANCE = 0.1  # percentage points


def on_cpu(cpu, guests, prefix=""):
    return [(prefix + name, image, {**keys, "cpu": cpu}) for name, image, keys in guests]


SEED = scenarios.SEED_GUESTS
NEIGHBOURS = [("storm", "exitstorm", {}), ("crash", "crash", {"tick_hz": 100, "param": 20}),
              ("flood", "storm", {"param": 15})]


def config(guests):
    return scenarios._config("shared", 1, guests)


SCENARIOS = {
    "isolation": config(on_cpu(0, SEED) + on_cpu(1, NEIGHBOURS)),
    "both": config(on_cpu(0, SEED) + on_cpu(1, SEED, prefix="x")),
}


def boot(args, name, text, cpus=None):
    return bochs.run(args.efi, text, f"{args.work_dir}/{name}", timeout=args.timeout,
                     ips=scenarios.BENCH_IPS, progress=False, **({"cpus": cpus} if cpus else {}))


def check_run(check, result, cpus_expected):
    check.expect(result.ended, "no METRONOME-END line")
    check.equal(serial_log.errors(result.lines), [], "METRONOME-ERROR lines")
    states = [l for l in result.lines if "processor state after the run:" in l]
    check.expect(len(states) == cpus_expected and all(": unchanged (" in l for l in states),
                 f"one unchanged processor state per CPU: {states!r}")
    rep = report.parse(result.lines)
    check.equal([c["cpu"] for c in rep["cpus"]], list(range(cpus_expected)), "the report's CPUs")
    for c in rep["cpus"]:
        check.expect(c["ran"] and c["error"] is None, f"CPU {c['cpu']} ran: {c['error']!r}")
        check.expect(c["totals_add_up"], f"CPU {c['cpu']}: its books add up")
        check.expect(c["protocol_errors"] == 0, f"CPU {c['cpu']}: no protocol errors")
    return rep


def compare_shares(check, reference, rep, names, prefix=""):
    ref = {g["name"]: report.share(g) for g in reference["guests"]}
    got = {g["name"]: g for g in rep["guests"]}
    for name in names:
        g = got[prefix + name]
        share = report.share(g)
        check.expect(abs(share - ref[name]) <= TOLERANCE,
                     f"{prefix + name} on CPU {g['cpu']}: {share:.2f}% of its CPU, "
                     f"{ref[name]:.2f}% alone on one CPU (± {TOLERANCE})")


def errors(check, args):
    text = scenarios._config("fixed", 0, [("a", "spin", {}), ("b", "spin", {"cpu": 2})], duration_ms=5)
    result = boot(args, "missing-cpu", text, cpus=2)
    check.expect(result.ended, "no METRONOME-END line")
    got = serial_log.errors(result.lines)
    check.expect(len(got) == 1 and "guest b: cpu 2 does not exist: this machine has 2 CPUs (0-1)" in got[0],
                 f"the error names the guest and the CPUs there are: {got!r}")
    check.expect(not any(l.startswith("METRONOME-REPORT") for l in result.lines), "nothing ran")
    # VMXON fails on both CPUs (the test-only wrong revision): each says so, and each CPU, started
    # or not, gives the firmware its state back.
    text = scenarios._config("fixed", 0, [("a", "spin", {}), ("b", "spin", {"cpu": 1})], duration_ms=5,
                             extra="test_fail_vmxon = 1")
    result = boot(args, "vmxon-failure", text)
    check.expect(result.ended, "no METRONOME-END line (VMXON failure)")
    got = serial_log.errors(result.lines)
    check.expect(len(got) == 2 and got[0].startswith("CPU 0: ") and got[1].startswith("CPU 1: ")
                 and all("VMXON" in e for e in got), f"one VMXON error per CPU: {got!r}")
    states = [l for l in result.lines if "processor state after the run:" in l]
    check.expect(len(states) == 2 and all(": unchanged (" in l for l in states),
                 f"both CPUs unchanged after the failure: {states!r}")
    return result


def main():
    args = arguments_with(__doc__, default_timeout=600,
                          extra=lambda p: p.add_argument("--scenario", required=True,
                                                         choices=sorted(SCENARIOS) + ["errors"]))
    if not bochs.available():
        print("bochs is not installed: skipped")
        return SKIP
    check = Checks()
    if args.scenario == "errors":
        return check.finish(errors(check, args))
    reference = boot(args, "one-cpu", scenarios.seed(1))
    check.expect(reference.ended, "the one-CPU reference run did not end")
    ref = report.parse(reference.lines)
    result = boot(args, args.scenario, SCENARIOS[args.scenario])
    rep = check_run(check, result, 2)
    on = {g["name"]: g["cpu"] for g in rep["guests"]}
    seed_names = [name for name, _, _ in SEED]
    check.equal({n: on[n] for n in seed_names}, {n: 0 for n in seed_names}, "the thread's guests ran on CPU 0")
    compare_shares(check, ref, rep, seed_names)
    if args.scenario == "isolation":
        g = {x["name"]: x for x in rep["guests"]}
        check.equal(g["crash"]["state"], "exited", "the crashing guest on CPU 1 exited")
        check.expect(sum(g["storm"]["exits"].values()) > 10000,
                     f"the exit storm on CPU 1 stormed: {g['storm']['exits']}")
        check.expect(g["flood"]["console_bytes"] > 100000, f"the flood on CPU 1 flooded: {g['flood']['console_bytes']}")
    else:
        compare_shares(check, ref, rep, seed_names, prefix="x")
    return check.finish(result)


if __name__ == "__main__":
    raise SystemExit(main())
