"""`metronome run`: build what is stale, put metronome.efi and a configuration on an ESP image,
boot it in Bochs (default) or QEMU, stream the serial output, and say how the run ended.

Exit status: 0 when metronome.efi printed METRONOME-END; 1 when it did not (crash, hang, time
out); 2 when nothing could be started (build failure, missing emulator).
"""
import argparse
import pathlib
import sys

from . import bochs, build, config, deps, esp, paths, qemu, serial_log

DEFAULT_TIMEOUT = {"bochs": 300.0, "qemu": 60.0}


def register(sub):
    p = sub.add_parser("run", help="boot metronome.efi and show what it printed",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", type=pathlib.Path,
                   help="configuration to put on the ESP as metronome.cfg "
                        "(default: one that only makes the run end)")
    p.add_argument("--platform", choices=["bochs", "qemu"], default="bochs")
    p.add_argument("--build-dir", type=pathlib.Path, default=paths.DEFAULT_BUILD_DIR,
                   help="CMake build folder (default: build/, configured with the "
                        "`default` preset when missing)")
    p.add_argument("--timeout", type=float, help="wall-clock seconds before the emulator is "
                   "stopped (default: 300 for Bochs, 60 for QEMU)")
    p.add_argument("--work-dir", type=pathlib.Path,
                   help="where esp.img, serial.txt and logs go (default: BUILD_DIR/run-PLATFORM)")
    p.add_argument("--ips", type=int, default=bochs.DEFAULT_IPS,
                   help="Bochs: emulated instructions (= TSC ticks) per emulated second")
    p.add_argument("--accel", choices=["tcg", "kvm"], default="tcg",
                   help="QEMU accelerator; kvm needs an Intel host with nested VMX")
    p.add_argument("--efi", type=pathlib.Path, help="boot this metronome.efi; do not build")
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


def run(args):
    try:
        deps.ensure()
        efi = args.efi if args.efi else build.ensure_built(args.build_dir)
        config_text = _config_text(args.config)
    except (build.BuildError, OSError, RuntimeError) as e:
        print(f"metronome: {e}", file=sys.stderr)
        return 2
    module = bochs if args.platform == "bochs" else qemu
    if not module.available():
        print(f"metronome: {args.platform} is not installed (tools/install-deps)", file=sys.stderr)
        return 2
    work_dir = args.work_dir or (pathlib.Path(args.build_dir) / f"run-{args.platform}")
    timeout = args.timeout or DEFAULT_TIMEOUT[args.platform]
    print(f"metronome: booting {efi} in {args.platform} (work folder {work_dir})",
          file=sys.stderr, flush=True)
    try:
        if args.platform == "bochs":
            result = bochs.run(efi, config_text, work_dir, timeout=timeout, ips=args.ips)
        else:
            result = qemu.run(efi, config_text, work_dir, timeout=timeout, accel=args.accel)
    except esp.EspError as e:
        print(f"metronome: {e}", file=sys.stderr)
        return 2
    print(summarize(result), flush=True)
    return 0 if result.ended else 1
