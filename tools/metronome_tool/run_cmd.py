"""`metronome run [CONFIG]`: build what is stale, put metronome.efi and a configuration on an ESP
image, boot it in Bochs (default) or QEMU, stream the serial output, print the per-guest table
and write report.json. With --console NAME, what is typed goes to Linux guest NAME's ttyS0
(console_link.py).

Without CONFIG it runs the 2010 thread's scenario (three CPU-bound guests and one mostly idle
guest, round robin) twice, with yield_on_hlt = 1 and = 0, side by side: the thread's
"1% 32% 33% 32%" against "each will get ~25%".

Exit status: 0 when metronome.efi printed METRONOME-END; 1 when it did not (crash, hang, time
out); 2 when nothing could be started (build failure, missing emulator).
"""
import argparse
import json
import pathlib
import sys

import threading

from . import (bochs, build, caps_file, config, console_link, cpu_models, deps, diagnose, esp,
               kvm_host, linux_image, paths, qemu, report, scenarios, serial_log)

DEFAULT_TIMEOUT = {"bochs": 300.0, "qemu": 60.0, "qemu-kvm": 60.0}
LINUX_TIMEOUT = 1800.0  # Bochs: the ESP's kernel read, then four kernels booting on one CPU


def register(sub):
    p = sub.add_parser("run", help="boot metronome.efi and show what it printed",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", type=pathlib.Path,
                   help="configuration to put on the ESP as metronome.cfg (default: the seed "
                        "thread's scenario, with yield_on_hlt = 1 and = 0)")
    p.add_argument("--linux", action="store_true",
                   help="the seed scenario with four of Debian's kernels as the guests (three "
                        "spin, one idles at 100 Hz in Linux's idle loop), measured over 300 ms "
                        "once all four booted (Bochs, several minutes)")
    p.add_argument("--caps-only", action="store_true",
                   help="boot without guests: only the capability report")
    p.add_argument("--report", type=pathlib.Path, default=pathlib.Path("report.json"),
                   help="where to write the parsed report (default: report.json)")
    p.add_argument("--platform", choices=["bochs", "qemu", "qemu-kvm"], default="bochs",
                   help="qemu: TCG, which has no VMX (the capability report says so); "
                        "qemu-kvm: KVM with nested VMX (-cpu host), checked first: an Intel "
                        "host, /dev/kvm read-write, kvm_intel nested=Y")
    p.add_argument("--build-dir", type=pathlib.Path, default=paths.DEFAULT_BUILD_DIR,
                   help="CMake build folder (default: build/, configured with the "
                        "`default` preset when missing)")
    p.add_argument("--timeout", type=float, help="wall-clock seconds before the emulator is "
                   "stopped (default: 300 for Bochs, 60 for QEMU)")
    p.add_argument("--work-dir", type=pathlib.Path,
                   help="where esp.img, serial.txt and logs go (default: BUILD_DIR/run-PLATFORM)")
    p.add_argument("--ips", type=int, default=scenarios.BENCH_IPS,
                   help="Bochs: emulated instructions (= TSC ticks) per emulated second "
                        "(default 10^9: one instruction is one nanosecond)")
    p.add_argument("--cpu", default=bochs.DEFAULT_CPU, metavar="MODEL",
                   help="Bochs: the emulated CPU (its `cpu: model=` name, default "
                        f"{bochs.DEFAULT_CPU}); `--cpu list` lists Bochs 2.7's Intel models "
                        "and what Metronome does on each")
    p.add_argument("--save-caps", type=pathlib.Path, metavar="FILE",
                   help="write the capability MSRs the boot read to FILE, in the format of "
                        "tests/data/vmx-caps/")
    p.add_argument("--accel", choices=["tcg", "kvm"], default="tcg",
                   help="QEMU accelerator; kvm needs an Intel host with nested VMX")
    p.add_argument("--console", metavar="NAME",
                   help="Bochs: the keys typed here go to Linux guest NAME's ttyS0 (a shell in it "
                        "while the others run; configuration key console_input); Ctrl-] ends the run")
    p.add_argument("--efi", type=pathlib.Path, help="boot this metronome.efi; do not build")
    p.add_argument("--file", action="append", default=[], metavar="ESP_PATH=HOST_PATH",
                   help="Bochs: also put HOST_PATH on the ESP as ESP_PATH, e.g. a guest image "
                        "named by `image = \\guests\\hello.elf`: "
                        "--file '\\guests\\hello.elf=build/guest/hello.elf' (repeatable)")
    p.set_defaults(func=run)


def _config_text(path):
    if path is None:
        return config.DEFAULT_CONFIG
    text, note = config.ensure_run_ends(path.read_text())
    if note:
        print(f"metronome: {note}", file=sys.stderr)
    return text


def summarize(result):
    """The final verdict, for people: one line, plus what the capability line said."""
    how = "ended (METRONOME-END)" if result.ended else (
        "timed out" if result.timed_out else "stopped without METRONOME-END")
    status = ("stopped by the tool" if result.exit_status is None
              else f"exit status {result.exit_status}")
    out = [f"metronome run: {result.platform}, {result.wall_seconds:.1f} s wall: {how} "
           f"({result.platform} {status})"]
    try:
        caps = result.json_line(serial_log.CAPS_MARKER)
    except ValueError as e:
        caps = None
        out.append(f"  capability line unreadable: {e}")
    if caps is not None:
        verdict = "can run Metronome" if caps.get("can_run") else "cannot run Metronome"
        lacks = ", ".join(caps.get("lacks", []) + caps.get("lacks_optional", []))
        out.append(f"  CPU: VMX {'present' if caps.get('vmx') else 'absent'}, {verdict}"
                   + (f" (lacks: {lacks})" if lacks else ""))
    for error in serial_log.errors(result.lines):
        out.append(f"  error: {error}")
    out.append(f"  serial log: {result.serial_path}")
    out.append(f"  emulator output: {result.output_path}")
    if not result.ended:
        tail = result.output_tail(10)
        if tail:
            out.append("  last emulator output:\n    " + tail.replace("\n", "\n    "))
    return "\n".join(out)


def _console_problem(args, config_text):
    """None when --console NAME can be given to config_text, else why not."""
    names = {name: keys for name, keys in config.guests(config_text)}
    if args.platform != "bochs":
        return "--console works with --platform bochs only"
    if args.console not in names:
        return f"--console {args.console}: the configuration has no guest of that name ({', '.join(names)})"
    if not names[args.console].get("kernel"):
        return f"--console {args.console}: that guest runs no kernel (only a Linux guest has a ttyS0)"
    return None


def _boot(args, efi, config_text, work_dir, on_line=None, progress=True):
    linux = getattr(args, "linux", False) or bool(config.esp_paths(config_text, "kernel"))
    timeout = args.timeout or (LINUX_TIMEOUT if linux and args.platform == "bochs" else DEFAULT_TIMEOUT[args.platform])
    if args.platform == "bochs":
        files = dict(esp.parse_file_option(f) for f in getattr(args, "file", []))
        files.update(linux_image.files_for(config_text, args.build_dir, files))
        console = None
        if getattr(args, "console", None):
            console = console_link.Terminal()
            on_line, progress = console_link.ConsoleDisplay(args.console), False
            config_text = config.with_global(config_text, "console_input", args.console)
            print(f"metronome: typing goes to guest {args.console}'s ttyS0 once its kernel listens; "
                  "Ctrl-] ends the run", file=sys.stderr, flush=True)
        return bochs.run(efi, config_text, work_dir, timeout=timeout, ips=args.ips,
                         on_line=on_line, progress=progress, files=files,
                         cpu_model=getattr(args, "cpu", bochs.DEFAULT_CPU), console=console)
    return qemu.run(efi, config_text, work_dir, timeout=timeout,
                    accel=qemu.accel_for(args.platform, args.accel),
                    on_line=on_line, progress=progress)


def _has_report(result):
    return any(line.startswith(report.MARKER) for line in result.lines)


def _report_of(result):
    """(report, problems): the parsed report and what is wrong with the run, in words."""
    problems = [f"error: {e}" for e in serial_log.errors(result.lines)]
    if not result.ended:
        problems.append("the run did not reach METRONOME-END")
    try:
        rep = report.parse(result.lines)
    except ValueError as e:
        return None, problems + [str(e)]
    return rep, problems + [f"totals: {p}" for p in report.totals_problems(rep)]


def _save_caps(args, result):
    try:
        caps = result.json_line(serial_log.CAPS_MARKER)
    except ValueError as e:
        caps = None
        print(f"metronome: --save-caps: {e}", file=sys.stderr)
    if caps is None or not caps.get("msrs"):
        print(f"metronome: --save-caps: {args.platform} printed no capability MSRs",
              file=sys.stderr)
        return
    ips = args.ips if args.platform == "bochs" else 0
    caps_file.write(args.save_caps, caps, args.cpu, ips)
    print(f"capability MSRs: {args.save_caps}")


def _platform_words(args):
    if args.platform == "bochs":
        return f"Bochs ({args.cpu}) at {args.ips} instructions per second"
    return "QEMU with KVM" if qemu.accel_for(args.platform, args.accel) == "kvm" else "QEMU (TCG)"


def _seed(args, efi, build_dir):
    """Both seed runs at once (one Bochs each, so the machine's two cores both work). On QEMU
    they run one after the other, and the second is not started when the first shows that this
    CPU cannot run Metronome."""
    seed = scenarios.linux_seed if args.linux else scenarios.seed
    runs = [("yield_on_hlt=1", seed(1)), ("yield_on_hlt=0", seed(0))]
    results = {}
    lock = threading.Lock()

    def boot(label, text, progress):
        def on_line(line):
            if line.startswith("["):
                with lock:
                    print(f"{label}: {line}", flush=True)
        folder = f"run-{'linux-' if args.linux else ''}seed-{label[-1]}"
        results[label] = _boot(args, efi, text, pathlib.Path(build_dir) / folder,
                               on_line=on_line, progress=progress)

    if args.linux:
        print("metronome: the seed scenario with four Linux guests (Debian's kernel): a, b, c spin; "
              "`idle` wakes at 100 Hz in Linux's idle loop; round robin, 1 ms slices, measured over "
              f"300 ms once all four booted, {_platform_words(args)}", file=sys.stderr, flush=True)
    else:
        print("metronome: the seed scenario: guests a, b, c spin; `idle` wakes at 100 Hz, works a "
              f"little and halts; round robin, 1 ms slices, 300 ms, {_platform_words(args)}",
              file=sys.stderr, flush=True)
    if args.platform == "bochs":
        threads = [threading.Thread(target=boot, args=(label, text, i == 0))
                   for i, (label, text) in enumerate(runs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        for label, text in runs:
            boot(label, text, True)
            if diagnose.capability_verdict(results[label].lines)[0] is False:
                break
    explanations = []
    for label, _ in runs:
        if label in results and not _has_report(results[label]):
            explanations.append(diagnose.explain(results[label]))
    if explanations:
        # One reason, said once, when both runs failed the same way (a CPU without VMX).
        for words in dict.fromkeys(explanations):
            print(f"metronome: {words}", file=sys.stderr)
        return 1
    labelled, failed = [], False
    for label, _ in runs:
        rep, problems = _report_of(results[label])
        for p in problems:
            print(f"metronome: {args.platform}: {label}: {p}", file=sys.stderr)
        failed = failed or bool(problems) or rep is None
        if rep is not None:
            print(f"\n{label}:\n{report.table(rep)}")
            labelled.append((label, rep))
    if len(labelled) == 2:
        print("\nCPU share of each guest (the thread: \"1% 32% 33% 32%\" with HLT trapped, "
              "\"~25%\" each without):")
        print(report.side_by_side(labelled))
        args.report.write_text(json.dumps(dict(labelled), indent=2) + "\n")
        print(f"\nreport: {args.report}")
    return 1 if failed else 0


def _check_cpu(args):
    """None when --cpu names a Bochs model, else the message."""
    if args.cpu in cpu_models.BY_NAME or args.cpu in cpu_models.OTHER_BOCHS_MODELS:
        return None
    return (f"metronome: --cpu {args.cpu}: Bochs 2.7 has no such CPU model; its Intel models:\n"
            + cpu_models.table())


def run(args):
    if args.cpu == "list":
        print(cpu_models.table())
        return 0
    problem = _check_cpu(args)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if args.cpu != bochs.DEFAULT_CPU and args.platform != "bochs":
        print("metronome: --cpu works with --platform bochs only", file=sys.stderr)
        return 2
    try:
        deps.ensure()
        efi = args.efi if args.efi else build.ensure_built(args.build_dir)
        config_text = config.DEFAULT_CONFIG if args.caps_only else (
            _config_text(args.config) if args.config else None)
    except (build.BuildError, OSError, RuntimeError) as e:
        print(f"metronome: {e}", file=sys.stderr)
        return 2
    module = bochs if args.platform == "bochs" else qemu
    if args.file and args.platform != "bochs":
        print("metronome: --file works with --platform bochs only", file=sys.stderr)
        return 2
    if not module.available():
        print(f"metronome: {args.platform} is not installed (tools/install-deps)", file=sys.stderr)
        return 2
    if qemu.accel_for(args.platform, args.accel) == "kvm":
        missing = kvm_host.problems()
        if missing:
            print("metronome: this host cannot run QEMU with KVM and nested VMX:\n  "
                  + "\n  ".join(missing), file=sys.stderr)
            return 2
    if config_text is None:
        if args.console:
            print("metronome: --console needs a configuration (CFG) with that Linux guest", file=sys.stderr)
            return 2
        return _seed(args, efi, args.build_dir)
    if args.console:
        problem = _console_problem(args, config_text)
        if problem:
            print(f"metronome: {problem}", file=sys.stderr)
            return 2
    work_dir = args.work_dir or (pathlib.Path(args.build_dir) / f"run-{args.platform}")
    print(f"metronome: booting {efi} in {args.platform} (work folder {work_dir})",
          file=sys.stderr, flush=True)
    try:
        result = _boot(args, efi, config_text, work_dir)
    except esp.EspError as e:
        print(f"metronome: {e}", file=sys.stderr)
        return 2
    print(summarize(result), flush=True)
    if args.save_caps:
        _save_caps(args, result)
    if not _has_report(result) and (not result.ended or serial_log.errors(result.lines)
                                    or diagnose.capability_verdict(result.lines)[0] is False):
        print(f"metronome: {diagnose.explain(result)}", file=sys.stderr)
        return 1
    if not result.ended:
        return 1
    if _has_report(result):
        rep, problems = _report_of(result)
        if rep is not None:
            print(report.table(rep))
            report.write(rep, args.report)
            print(f"report: {args.report}")
        for p in problems:
            print(f"metronome: {p}", file=sys.stderr)
        return 1 if problems else 0
    return 1 if serial_log.errors(result.lines) else 0
