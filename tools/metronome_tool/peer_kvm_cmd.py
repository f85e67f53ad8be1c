"""`metronome peer kvm`: the peer, measured by the project. Linux KVM on the same emulated CPU
as Metronome's benchmarks (Bochs 2.7, corei7_skylake_x, ips = 10^9, 256 MiB), the same method,
the same scenarios, side by side with Metronome's own figures.

It builds linux-loader.efi and kvm-peer (tools/peer/), fetches Debian's stock kernel (the one
`linux-image-amd64` depends on) and busybox-static with `apt-get download` into the build
folder, writes an initramfs, boots the kernel bare in Bochs through OVMF (one boot, ~10^10
instructions, most of them OVMF and the EFI stub's decompression), and inside it loads Debian's
kvm.ko and kvm-intel.ko and runs every measurement twice: with vmentry_l1d_flush=cond (KVM's
default) and =never. Then it prints the bench figures with a KVM column and the ratio
Metronome/KVM, the experiments table with KVM rows, and the thread's scenario, and writes
bench/results/kvm.json and kvm.md.

Metronome's side is read from bench/results/bochs.json (`tools/metronome bench`) and from
BUILD/experiments (`tools/metronome experiments`; its rows are left out when absent).

Exit status: 0 when every run produced its figures; 1 when a run failed or the boot did not
finish; 2 when nothing could be started.
"""
import argparse
import json
import pathlib
import subprocess
import sys
import time

from . import (bochs, build, debian_kernel, deps, experiments, experiments_cmd, paths,
               peer_bochs, peer_figures, peer_image, peer_runs, peer_tables, serial_log)

RESULTS = paths.SOURCE_DIR / "bench" / "results" / "kvm.json"
METRONOME_RESULTS = paths.SOURCE_DIR / "bench" / "results" / "bochs.json"
TARGETS = ("kvm-peer", "linux-loader-efi")
BOOT_TIMEOUT = 3600.0
PORT_RACE_RETRIES = 3


def register(sub):
    p = sub.add_parser("peer", help="a peer hypervisor measured the same way: `peer kvm`",
                       description="Peers measured by the project on the same emulated CPU.")
    peers = p.add_subparsers(dest="peer", metavar="PEER")
    peers.required = True
    k = peers.add_parser("kvm", help="Linux KVM in Bochs, side by side with Metronome",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    k.add_argument("--build-dir", type=pathlib.Path, default=paths.DEFAULT_BUILD_DIR,
                   help="CMake build folder (default: build/); the kernel is cached in "
                        "BUILD_DIR/debian")
    k.add_argument("--only", help="comma-separated runs (" + ", ".join(r.name for r in peer_runs.runs())
                   + "); the results file is not written")
    k.add_argument("--settings", default=",".join(peer_runs.L1D_SETTINGS),
                   help="vmentry_l1d_flush values to measure (default: cond,never)")
    k.add_argument("--timeout", type=float, default=BOOT_TIMEOUT,
                   help=f"wall seconds for the whole boot (default {BOOT_TIMEOUT:.0f})")
    k.add_argument("--results", type=pathlib.Path, default=RESULTS,
                   help="where the JSON goes (default: bench/results/kvm.json; .md beside it)")
    k.add_argument("--experiments-dir", type=pathlib.Path,
                   help="Metronome's experiment reports (default: BUILD_DIR/experiments)")
    k.add_argument("--rejudge", action="store_true",
                   help="boot nothing: recompute the tables from the last boot's output")
    k.set_defaults(func=run)


def _log(text):
    print(f"metronome peer kvm: {text}", file=sys.stderr, flush=True)


def _build(build_dir):
    """metronome.efi's build (configures when needed), then the peer's two programs."""
    build.ensure_built(build_dir)
    cmd = ["cmake", "--build", str(build_dir), "--target", *TARGETS]
    if subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr).returncode != 0:
        raise build.BuildError("command failed: " + " ".join(cmd))
    peer_dir = pathlib.Path(build_dir).resolve() / "peer"
    kvm_peer, loader = peer_dir / "kvm-peer", peer_dir / "linux-loader.efi"
    for needed in (kvm_peer, loader):
        if not needed.exists():
            raise build.BuildError(f"{needed} was not built (linux/kvm.h and gnu-efi are needed)")
    return kvm_peer, loader


def _on_e9(line):
    # Bochs' own messages share its stdout with port 0xE9: show the measurements only.
    if line.startswith(("PEER-KVM-RUN", "PEER-KVM-ERROR", "PEER-KVM-WARNING", "PEER-KVM-END")):
        _log(line)


def _boot(args, selected, settings, work_dir):
    kvm_peer, loader = _build(args.build_dir)
    script = peer_runs.init_script(selected, settings)
    image = peer_image.build(args.build_dir, kvm_peer, script)
    busybox = f"{peer_image.BUSYBOX_PACKAGE} {debian_kernel.deb_version(image.busybox_deb)}"
    _log(f"{image.kernel.package} {image.kernel.version} (kernel {image.kernel.release}), "
         f"{busybox}; initramfs {len(image.initrd):,} bytes; Bochs "
         f"{peer_runs.CPU_MODEL}, ips={peer_runs.IPS}, {peer_runs.MEGS} MiB")
    (work_dir / "init").write_text(script)
    for attempt in range(PORT_RACE_RETRIES + 1):
        cmd = peer_bochs.prepare(work_dir, loader, image.kernel.vmlinuz, image.initrd,
                                 peer_runs.KERNEL_CMDLINE, peer_runs.IPS, peer_runs.CPU_MODEL,
                                 peer_runs.MEGS)
        result = peer_bochs.boot(cmd, work_dir, args.timeout, on_e9=_on_e9)
        raced = not result.serial_lines and bochs.PORT_RACE in "\n".join(result.e9_lines[-40:])
        if not raced or attempt == PORT_RACE_RETRIES:
            break
        time.sleep(0.5 + attempt)
    module_bytes = sum(image.kernel.module(m).stat().st_size for m in peer_runs.KVM_MODULES)
    facts = {"kernel_package": image.kernel.package, "kernel_version": image.kernel.version,
             "kernel_release": image.kernel.release, "busybox": busybox,
             "module_bytes": module_bytes, "wall_seconds": round(result.wall_seconds, 1),
             "bochs_exit_status": result.exit_status, "timed_out": result.timed_out,
             "panicked": result.panicked}
    (work_dir / "facts.json").write_text(json.dumps(facts, indent=2) + "\n")
    return facts


def _problems(parsed, selected, settings, facts):
    out = []
    if facts.get("timed_out"):
        out.append("the boot ran out of time")
    if facts.get("panicked"):
        out.append("the kernel panicked (see serial.txt)")
    if not parsed["ended"]:
        out.append("no PEER-KVM-END: the measurements did not finish (see bochs.out, serial.txt)")
    out += [f"error: {e}" for e in parsed["errors"]]
    for setting in settings:
        for r in selected:
            run = parsed["runs"].get((setting, r.name))
            if run is None:
                out.append(f"{setting}/{r.name}: did not run")
            elif run["rc"] != 0:
                out.append(f"{setting}/{r.name}: kvm-peer exited with status {run['rc']}")
    return out


def _metronome_experiments(out_dir):
    """Metronome's experiment rows from its last `tools/metronome experiments` (or none)."""
    rows = []
    for r in experiments.RUNS:
        if (out_dir / r.key / "report.json").exists():
            outcome, _, _, problems = experiments_cmd.rejudge_one(r, out_dir / r.key)
            rows.append((r, outcome, problems))
    return rows


def _run_summary(run):
    """What kvm.json keeps of one run: its figures' inputs, not every gap."""
    keep = {"rc": run["rc"], "uptime": run["uptime"]}
    if run["vmexit"] is not None:
        keep["vmexit"] = run["vmexit"]
        keep["round_trips"] = peer_figures.round_trips(run["lines"])
    if run["share"] is not None:
        s = peer_figures.shares(run["share"])
        keep["shares"] = s
        keep["timeline"] = peer_figures.timeline(run["share"])
        keep["create_tsc"] = run["share"]["create_tsc"]
        keep["create_cpu_ns"] = run["share"].get("create_cpu_ns")
    return keep


def report(parsed, selected, settings, facts, args):
    """Prints the tables; writes kvm.json and kvm.md unless --only. Returns the problems."""
    metronome_doc = None
    if METRONOME_RESULTS.exists():
        metronome_doc = json.loads(METRONOME_RESULTS.read_text())
    else:
        _log(f"{METRONOME_RESULTS} is missing (tools/metronome bench): no Metronome column")
    kvm = {s: peer_tables.kvm_figures(parsed, s, facts) for s in settings}
    rows = peer_tables.bench_rows(metronome_doc, kvm)
    bench_text = peer_tables.bench_table(rows)
    exp_dir = (args.experiments_dir or pathlib.Path(args.build_dir) / "experiments").resolve()
    metronome_rows = _metronome_experiments(exp_dir)
    if not metronome_rows:
        _log(f"no Metronome experiment reports in {exp_dir} (tools/metronome experiments): "
             "the experiments table shows KVM's rows only")
    kvm_rows = [x for s in settings for x in peer_tables.kvm_experiment_rows(parsed, s)]
    exp_rows = experiments_cmd.table_rows(peer_tables.merged(metronome_rows, kvm_rows))
    exp_rows.append(peer_tables.CFS_NOTE)
    exp_text = "\n".join(exp_rows)
    # The README's table: Metronome's rows and KVM's at its default L1D setting.
    default_rows = [x for x in kvm_rows if x[0].key.startswith(f"kvm-{settings[0]}-")]
    short_rows = experiments_cmd.table_rows(peer_tables.merged(metronome_rows, default_rows))
    short_rows.append(peer_tables.CFS_NOTE)
    scenario = peer_tables.scenario_rows(parsed, settings)
    scenario_text = peer_tables.scenario_table(scenario) if scenario else ""
    print("Bench figures, Metronome and KVM on the same emulated CPU (Bochs, 1 instruction = 1 ns):")
    print(bench_text)
    print("\nThe thread's experiments, Metronome's rows and KVM's (CFS):")
    print(exp_text)
    if scenario_text:
        print("\nThe thread's scenario on KVM, 300 ms (CPU share of each VM's thread):")
        print(scenario_text)
    problems = _problems(parsed, selected, settings, facts)
    if args.only:
        _log("--only: results file not written")
        return problems
    doc = {"platform": "kvm", "command": "tools/metronome peer kvm",
           "note": "Linux KVM in Bochs 2.7 (corei7_skylake_x, ips=10^9, 256 MiB): 1 TSC tick = "
                   "1 instruction = 1 ns; Linux runs with tsc_early_khz=1000000, so its clock "
                   "(CFS, schedstat) is the same emulated clock",
           "kernel_cmdline": peer_runs.KERNEL_CMDLINE, "facts": facts, "info": parsed["info"],
           "settings": list(settings),
           "figures": {s: kvm[s] for s in settings},
           "bench_table": bench_text.splitlines(),
           "experiments": peer_tables.rows_to_json(kvm_rows),
           "experiments_table": exp_rows, "experiments_table_default": short_rows,
           "scenario_table": scenario_text.splitlines(),
           "runs": {f"{s}/{n}": _run_summary(r) for (s, n), r in parsed["runs"].items()},
           "problems": problems}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(doc, indent=2) + "\n")
    md = ["Bench figures (`tools/metronome bench` and `tools/metronome peer kvm`):", "",
          peer_tables.bench_markdown(rows), "",
          f"Experiments, KVM at vmentry_l1d_flush={settings[0]} (`tools/metronome experiments` "
          "and `tools/metronome peer kvm`):", "", "```", "\n".join(short_rows), "```"]
    if scenario_text:
        md += ["", "The thread's scenario on KVM (CPU share of each VM's thread over 300 ms):",
               "", "```", scenario_text, "```"]
    md += ["", "Experiments, both L1D settings:", "", "```", exp_text, "```"]
    args.results.with_suffix(".md").write_text("\n".join(md) + "\n")
    _log(f"results: {args.results}")
    return problems


def run(args):
    try:
        selected = peer_runs.select([n.strip() for n in args.only.split(",")] if args.only else None)
    except ValueError as e:
        _log(str(e))
        return 2
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    bad = [s for s in settings if s not in ("cond", "never", "always")]
    if bad or not settings:
        _log(f"--settings: vmentry_l1d_flush takes cond, never or always, not {','.join(bad)}")
        return 2
    work_dir = (pathlib.Path(args.build_dir) / "peer" / "kvm-run").resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if not args.rejudge:
        try:
            deps.ensure()
            if not bochs.available():
                _log("bochs is not installed (tools/install-deps)")
                return 2
            facts = _boot(args, selected, settings, work_dir)
        except (build.BuildError, debian_kernel.KernelError, OSError, RuntimeError) as e:
            _log(str(e))
            return 2
    else:
        try:
            facts = json.loads((work_dir / "facts.json").read_text())
        except (OSError, ValueError) as e:
            _log(f"--rejudge: no earlier boot in {work_dir}: {e}")
            return 2
    lines = serial_log.split_lines((work_dir / "bochs.out").read_bytes())
    parsed = peer_figures.parse(lines)
    problems = report(parsed, selected, settings, facts, args)
    for p in problems:
        _log(p)
    _log(f"done in {time.monotonic() - started:.0f} s wall (boot {facts.get('wall_seconds')} s)")
    return 1 if problems else 0
