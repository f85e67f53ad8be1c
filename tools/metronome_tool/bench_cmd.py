"""`metronome bench`: the benchmark suite. Builds metronome.efi, boots every run of the suite in
Bochs at ips = 10^9 (two at a time), prints one table of figures with their targets, and writes
bench/results/bochs.json (the same figures and the same table text) plus each run's
configuration under bench/configs/ (so `tools/metronome run bench/configs/NAME.cfg` replays one).
One more boot, `profile-exit`, traces a single CPUID exit in Bochs' debugger and prints where its
root-mode instructions go, function by function (bench_profile.py).

In Bochs the TSC advances one tick per emulated instruction, and at ips = 10^9 one tick is one
nanosecond of emulated time: every figure is an exact instruction count, the same on every machine.

Exit status: 0 when every run produced its report (a missed target is reported, not a failure);
1 when a run failed; 2 when nothing could be started.
"""
import argparse
import concurrent.futures
import json
import pathlib
import subprocess
import sys
import time

from . import bench, bench_profile, bochs, build, deps, paths, report, serial_log

BENCH_DIR = paths.SOURCE_DIR / "bench"
RESULTS = BENCH_DIR / "results" / "bochs.json"
CONFIGS = BENCH_DIR / "configs"
BENCH_MARKER = "METRONOME-BENCH"
PROFILE = "profile-exit"  # the traced CPUID exit (bench_profile.py), one more Bochs boot
# A run's wall-time limit grows with its guests: the report is ~1.2 KB a guest, printed over the
# emulated UART at 115200 baud (the 64-guest report, a ~77 KB line, takes minutes of wall time).
RUN_TIMEOUT = 900.0
RUN_TIMEOUT_PER_GUEST = 3.0


def register(sub):
    p = sub.add_parser("bench", help="run the benchmark suite in Bochs and print its figures",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", type=pathlib.Path, default=paths.DEFAULT_BUILD_DIR,
                   help="CMake build folder (default: build/)")
    p.add_argument("--only", help="comma-separated run names (see bench/configs/); figures of "
                                  "the other runs show n/a, and the results file is not written")
    p.add_argument("--jobs", type=int, default=2, help="Bochs instances at a time (default 2)")
    p.add_argument("--results", type=pathlib.Path, default=RESULTS,
                   help=f"where the JSON goes (default: {RESULTS.relative_to(paths.SOURCE_DIR)})")
    p.set_defaults(func=run)


def _boot(efi, name, text, work_root):
    timeout = RUN_TIMEOUT + RUN_TIMEOUT_PER_GUEST * text.count("[guest ")
    result = bochs.run(efi, text, work_root / name, timeout=timeout, ips=bench.IPS,
                       on_line=lambda line: None, progress=False)
    out = {"lines": result.lines, "report": None, "bench": None, "problems": []}
    if not result.ended:
        out["problems"].append("did not reach METRONOME-END"
                               + (" (timed out)" if result.timed_out else ""))
    out["problems"] += [f"error: {e}" for e in serial_log.errors(result.lines)]
    try:
        out["report"] = report.parse(result.lines)
        out["problems"] += [f"totals: {p}" for p in report.totals_problems(out["report"])]
    except ValueError as e:
        out["problems"].append(str(e))
    try:
        out["bench"] = serial_log.json_line(result.lines, BENCH_MARKER)
    except ValueError as e:
        out["problems"].append(f"{BENCH_MARKER}: {e}")
    out["wall_seconds"] = round(result.wall_seconds, 1)
    return out


def _profile(efi, build_dir, work_dir):
    out = {"problems": [], "wall_seconds": 0, "profile": None}
    start = time.monotonic()
    try:
        total, rows = bench_profile.run_profile(efi, pathlib.Path(build_dir) / "metronome.so", work_dir)
        out["profile"] = {"total": total, "functions": rows}
    except (OSError, StopIteration, KeyError, subprocess.SubprocessError) as e:
        out["problems"].append(f"profile failed: {e!r} (see {work_dir})")
    out["wall_seconds"] = round(time.monotonic() - start, 1)
    return out


def _loc():
    counts = {"pure": 0, "hw": 0}
    for path in sorted((paths.SOURCE_DIR / "vmx").rglob("*")):
        if path.suffix in (".cpp", ".hpp", ".S") and path.is_file():
            n = bench.count_code_lines(path.read_text(errors="replace"))
            counts["hw" if "hw" in path.relative_to(paths.SOURCE_DIR / "vmx").parts else "pure"] += n
    counts["total"] = counts["pure"] + counts["hw"]
    return counts


def _summary(name, res):
    """What the JSON keeps of one run: its figures' inputs, not the whole serial log."""
    r = res["report"]
    keep = {"problems": res["problems"], "wall_seconds": res["wall_seconds"], "bench": res["bench"]}
    if name == "vmexit":
        keep["vmexit_loops"] = bench.vmexit_loops(res["lines"])
    if r is not None:
        keep["duration_ticks"] = r["duration_ticks"]
        keep["switching_ticks"] = r["switching_ticks"]
        keep["guests"] = [{k: g.get(k) for k in ("name", "image", "slices", "slice_ticks",
                                                 "slice_configured_ticks", "hypervisor_ticks",
                                                 "ran_ticks", "root_ticks_by_exit", "exit_reason")}
                          for g in r["guests"]]
    return keep


def run(args):
    all_runs = bench.runs()
    names = list(all_runs) + [PROFILE]
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in all_runs and n != PROFILE]
        if unknown:
            print(f"metronome bench: unknown run(s) {', '.join(unknown)}; runs: {', '.join(all_runs)}",
                  file=sys.stderr)
            return 2
    try:
        deps.ensure()
        efi = build.ensure_built(args.build_dir)
    except (build.BuildError, OSError, RuntimeError) as e:
        print(f"metronome bench: {e}", file=sys.stderr)
        return 2
    if not bochs.available():
        print("metronome bench: bochs is not installed (tools/install-deps)", file=sys.stderr)
        return 2
    CONFIGS.mkdir(parents=True, exist_ok=True)
    for name, text in all_runs.items():
        (CONFIGS / f"{name}.cfg").write_text(text)
    work_root = pathlib.Path(args.build_dir).resolve() / "bench"
    print(f"metronome bench: {len(names)} Bochs runs at ips={bench.IPS} (1 instruction = 1 ns), "
          f"{args.jobs} at a time", file=sys.stderr, flush=True)
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(_boot, efi, n, all_runs[n], work_root): n for n in names if n != PROFILE}
        if PROFILE in names:
            futures[pool.submit(_profile, efi, args.build_dir, work_root / PROFILE)] = PROFILE
        for f in concurrent.futures.as_completed(futures):
            n = futures[f]
            results[n] = f.result()
            state = "ok" if not results[n]["problems"] else "; ".join(results[n]["problems"])
            print(f"metronome bench: {n}: {results[n]['wall_seconds']} s wall, {state}",
                  file=sys.stderr, flush=True)
    facts = {"efi_bytes": pathlib.Path(efi).stat().st_size, "loc": _loc()}
    figs = bench.figures(results, facts)
    text = bench.table(figs)
    print(text)
    profile = results.get(PROFILE, {}).get("profile")
    if profile:
        print("\n" + bench_profile.table(profile["total"], profile["functions"]))
    failed = [n for n in names if results[n]["problems"]]
    if args.only:
        print("metronome bench: --only: results file not written", file=sys.stderr)
    else:
        doc = {"platform": "bochs", "ips": bench.IPS,
               "note": "Bochs time is instructions: 1 TSC tick = 1 instruction = 1 ns at ips=10^9",
               "command": "tools/metronome bench", "figures": figs, "table": text.splitlines(),
               "facts": facts, "cpuid_exit_profile": profile,
               "runs": {n: _summary(n, results[n]) for n in names if n != PROFILE}}
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(doc, indent=2) + "\n")
        args.results.with_suffix(".md").write_text(bench.markdown(figs) + "\n")
        print(f"results: {args.results}", file=sys.stderr)
    for n in failed:
        print(f"metronome bench: run {n} failed: {'; '.join(results[n]['problems'])} "
              f"(work folder {work_root / n})", file=sys.stderr)
    return 1 if failed else 0
