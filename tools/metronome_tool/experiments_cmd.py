"""`metronome experiments`: run the thread's seven experiments (README, "Scheduling policies") under every policy
that applies (tools/metronome_tool/experiments.py) in Bochs, two at a time, and print one table:
experiment, policy, expected shares (from the 2010 thread), measured shares, pass/fail with the
tolerance. Writes each run's report.json and serial log, the table (table.txt), and PNG plots:
per-guest CPU shares per policy (expN-shares.png) and the slice timeline of the first 50 ms of
each run (expN-timeline.png).

Exit status: 0 when every experiment passed, 1 when one failed or did not end, 2 when nothing
could be started (build failure, no Bochs).
"""
import argparse
import concurrent.futures
import json
import pathlib
import sys
import time

from . import bochs, build, deps, paths, peer_tables, plots, report, scenarios, serial_log
from .experiments import RUNS, TOLERANCE, evaluate


def register(sub):
    p = sub.add_parser("experiments", help="run the thread's seven experiments (README): table and plots",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", type=pathlib.Path, default=paths.DEFAULT_BUILD_DIR,
                   help="CMake build folder (default: build/)")
    p.add_argument("--efi", type=pathlib.Path, help="boot this metronome.efi; do not build")
    p.add_argument("--out", type=pathlib.Path,
                   help="where reports, the table and the plots go (default: BUILD_DIR/experiments)")
    p.add_argument("--only", nargs="+", metavar="KEY",
                   help="run only these (experiment numbers such as 2, or keys such as exp2-fixed-y0)")
    p.add_argument("--jobs", type=int, default=2, help="Bochs instances at a time (default 2)")
    p.add_argument("--timeout", type=float, default=400.0, help="wall seconds per run (default 400)")
    p.add_argument("--rejudge", action="store_true",
                   help="boot nothing: judge, tabulate and plot the reports already in --out")
    p.set_defaults(func=run)


def selected(only):
    if not only:
        return list(RUNS)
    keep = [r for r in RUNS if r.key in only or str(r.experiment) in only]
    unknown = [o for o in only if not any(r.key == o or str(r.experiment) == o for r in RUNS)]
    if unknown:
        raise ValueError("unknown experiment(s): " + ", ".join(unknown) + "; known: "
                         + ", ".join(r.key for r in RUNS))
    return keep


def run_one(run, efi, work_dir, timeout):
    """Boots one run; returns (outcome or None, report or None, RunResult, problems in words)."""
    result = bochs.run(efi, run.config, work_dir, timeout=timeout, ips=scenarios.BENCH_IPS,
                       on_line=lambda line: None, progress=False)
    problems = []
    if not result.ended:
        problems.append("no METRONOME-END (timed out)" if result.timed_out else "no METRONOME-END")
    problems += [f"METRONOME-ERROR {e}" for e in serial_log.errors(result.lines)]
    try:
        rep = report.parse(result.lines)
    except ValueError as e:
        return None, None, result, problems + [str(e)]
    report.write(rep, pathlib.Path(work_dir) / "report.json")
    return evaluate(run, rep, result.lines), rep, result, problems


def rejudge_one(run, work_dir):
    """Like run_one, from the report.json and serial.txt a previous run left in work_dir."""
    work_dir = pathlib.Path(work_dir)
    try:
        rep = json.loads((work_dir / "report.json").read_text())
        lines = (work_dir / "serial.txt").read_text(errors="replace").splitlines()
    except (OSError, ValueError) as e:
        return None, None, None, [f"no earlier report: {e}"]
    return evaluate(run, rep, lines), rep, None, []


def _numbers(values):
    return "/".join(f"{v:.2f}" for v in values)


def table_rows(done):
    """done: list of (Run, Outcome or None, problems). The table, one row per run."""
    cells = []  # (run, [policy, guests, expected, measured, verdict], notes, failures)
    for run, outcome, problems in done:
        if outcome is None:
            cells.append((run, [run.policy, "", "", "", "FAIL"], [], problems))
            continue
        tolerances = sorted({e.tolerance for e in outcome.expected})
        failures = problems + outcome.failures
        verdict = ("PASS" if not failures else "FAIL") + " (±" + "/".join(f"{t:g}" for t in tolerances) + ")"
        cells.append((run, [run.policy, "/".join(e.who() for e in outcome.expected),
                            "/".join(f"{e.value:.2f}" for e in outcome.expected),
                            _numbers(outcome.measured), verdict], outcome.notes, failures))
    head = ["policy", "guests", "expected %", "measured %", "verdict"]
    widths = [max([len(h)] + [len(c[1][i]) for c in cells]) + 2 for i, h in enumerate(head)]

    def line(prefix, values):
        return (prefix + "".join(v.ljust(w) for v, w in zip(values, widths))).rstrip()

    rows = [line("exp ", head)]
    rows.append("-" * len(rows[0]))
    last = None
    for run, values, notes, failures in cells:
        if run.experiment != last:
            rows.append(f"{run.experiment:<4}{run.title}")
            last = run.experiment
        rows.append(line("    ", values))
        rows += [f"        note: {n}" for n in notes]
        rows += [f"        FAIL: {f}" for f in failures]
    return rows


def write_plots(done_reports, out):
    """done_reports: list of (Run, report). One shares and one timeline PNG per experiment."""
    written = []
    if not plots.available():
        print("metronome experiments: matplotlib is not available (Debian: python3-matplotlib); "
              "no plots", file=sys.stderr)
        return written
    by_experiment = {}
    for run, rep in done_reports:
        by_experiment.setdefault(run.experiment, []).append((run, rep))
    for number, runs in sorted(by_experiment.items()):
        title = f"Experiment {number}: {runs[0][0].title}"
        labelled = [(run.policy, rep) for run, rep in runs]
        shares_png = out / f"exp{number}-shares.png"
        plots.shares(title + " (CPU share over the run)", labelled, shares_png)
        timeline_png = out / f"exp{number}-timeline.png"
        plots.timelines(title + " (first 50 ms)", labelled, timeline_png)
        written += [shares_png, timeline_png]
    return written


def run(args):
    try:
        chosen = selected(args.only)
    except ValueError as e:
        print(f"metronome experiments: {e}", file=sys.stderr)
        return 2
    if args.rejudge:
        out = (args.out or pathlib.Path(args.build_dir) / "experiments").resolve()
        results = {r.key: rejudge_one(r, out / r.key) for r in chosen}
        return finish(chosen, results, out, time.monotonic())
    try:
        deps.ensure()  # a fresh machine: Bochs, OVMF, matplotlib, ... come from here
        if not bochs.available():
            print("metronome experiments: bochs is not installed", file=sys.stderr)
            return 2
        efi = args.efi or build.ensure_built(args.build_dir)
    except (build.BuildError, RuntimeError) as e:
        print(f"metronome experiments: {e}", file=sys.stderr)
        return 2
    out = (args.out or pathlib.Path(args.build_dir) / "experiments").resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"metronome experiments: {len(chosen)} Bochs runs, {args.jobs} at a time, at "
          f"{scenarios.BENCH_IPS:,} instructions/s; results in {out}", file=sys.stderr)
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(run_one, r, efi, out / r.key, args.timeout): r for r in chosen}
        for future in concurrent.futures.as_completed(futures):
            r = futures[future]
            results[r.key] = future.result()
            outcome, _, result, problems = results[r.key]
            ok = outcome is not None and not outcome.failures and not problems
            print(f"  {r.key}: {'pass' if ok else 'FAIL'} ({result.wall_seconds:.0f} s wall)",
                  file=sys.stderr, flush=True)
    return finish(chosen, results, out, started)


def finish(chosen, results, out, started):
    """Prints the table, writes table.txt, results.json and the plots; the exit status."""
    done = [(r, results[r.key][0], results[r.key][3]) for r in chosen]
    kvm = peer_tables.committed_kvm_rows({r.experiment for r in chosen})
    rows = table_rows(peer_tables.merged(done, kvm))
    rows.append(f"tolerance: ±{TOLERANCE} percentage points over >= 200 slices unless a note "
                "says why; every run's totals must add up exactly")
    if kvm:
        rows += [peer_tables.COMMITTED_NOTE, peer_tables.CFS_NOTE]
    text = "\n".join(rows)
    print(text)
    (out / "table.txt").write_text(text + "\n")
    written = write_plots([(r, results[r.key][1]) for r in chosen if results[r.key][1] is not None], out)
    summary = [{"key": r.key, "experiment": r.experiment, "policy": r.policy,
                "passed": o is not None and not o.failures and not p,
                "expected": [e.value for e in o.expected] if o else [],
                "measured": o.measured if o else [],
                "failures": (o.failures if o else []) + p} for r, o, p in done]
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    for path in written:
        print(f"plot: {path}")
    passed = sum(1 for s in summary if s["passed"])
    print(f"{passed} of {len(summary)} runs passed in {time.monotonic() - started:.0f} s wall")
    return 0 if passed == len(summary) else 1
