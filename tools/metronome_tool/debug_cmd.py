"""`metronome debug [CONFIG] [--break WHERE] [--script FILE] [--transcript FILE]`: boot
metronome.efi in Bochs and stop in Bochs' internal debugger at WHERE, with the hypervisor's
symbols loaded where the firmware put the image and the guest's at its guest-physical base.

WHERE (default vmentry):
  vmentry[:NAME]  on the VMLAUNCH of the first VM entry of guest NAME (default: the first guest
                  entered); `s` then executes the guest's first instruction. The symbol "vmcs"
                  is that guest's VMCS: `xp /1gx "vmcs" + 0xe88` is its guest RIP, +0x918 the
                  exit reason (Bochs' own VMCS layout, tools/PLATFORMS.md)
  guest[:NAME]    on the guest's first instruction (its entry point, _start at 0x10000)
  vmexit[:NAME]   on the first instruction of the exit handler (metronome_vm_exit), after that
                  guest's first VM exit
  start           right after metronome.efi read its configuration (symbols just loaded)
  SYMBOL          any hypervisor symbol run after that point, e.g. vmx::run_guests

Interactive (default): the Bochs prompt is yours (`help`, `s`, `c`, `r`, `u /8 rip`, `lb "sym"`,
`info symbols "prefix"`, `quit`); Ctrl-C stops the simulation and returns to the prompt. The
guests' and the hypervisor's serial output still goes to WORK_DIR/serial.txt.
--script FILE: runs the debugger commands in FILE after the stop, with no terminal (stdin
/dev/null: Bochs quits when the script ends), and prints the transcript. Either way the
transcript (every command and its output) is saved: --transcript, default
WORK_DIR/debug-transcript.txt.

CONFIG gets `debug_break` (and `debug_guest`) added among its global keys, and
`on_finish = shutdown` unless it sets on_finish. Without CONFIG: two spinning guests a and b.
Exit status: 0 when the session ran (--script: and reached the first stop in time); 1 when
it did not; 2 when it could not start (build, symbols, configuration, no Bochs).
"""
import argparse
import difflib
import pathlib
import signal
import subprocess
import sys

from . import bochs, build, config, debug_session, deps, emulator, paths, symbols

DEFAULT_CONFIG = (
    "# Written by tools/metronome debug: no configuration was given.\n"
    "duration_ms = 20\n"
    "on_finish = shutdown\n"
    "[guest a]\n"
    "image = spin\n"
    "[guest b]\n"
    "image = spin\n"
)
GUEST_ELF = pathlib.Path("guest") / "builtin-guest.elf"
TRANSCRIPT = "debug-transcript.txt"


def register(sub):
    p = sub.add_parser("debug", help="stop metronome.efi in the Bochs debugger (symbols loaded)",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", type=pathlib.Path,
                   help="configuration for the ESP (default: two spinning guests a and b)")
    p.add_argument("--break", dest="where", default="vmentry", metavar="WHERE",
                   help="vmentry[:NAME] (default), guest[:NAME], vmexit[:NAME], start or a "
                        "hypervisor symbol")
    p.add_argument("--script", type=pathlib.Path,
                   help="debugger commands to run after the stop, non-interactively")
    p.add_argument("--transcript", type=pathlib.Path,
                   help=f"where the session's transcript goes (default WORK_DIR/{TRANSCRIPT})")
    p.add_argument("--build-dir", type=pathlib.Path, default=paths.DEFAULT_BUILD_DIR,
                   help="CMake build folder (metronome.efi, metronome.so and "
                        "guest/builtin-guest.elf are taken from there)")
    p.add_argument("--efi", type=pathlib.Path,
                   help="boot this metronome.efi, do not build; metronome.so and "
                        "guest/builtin-guest.elf must lie beside it, as in a build folder")
    p.add_argument("--work-dir", type=pathlib.Path,
                   help="where esp.img, bochsrc, symbol files and logs go "
                        "(default BUILD_DIR/debug)")
    p.add_argument("--ips", type=int, default=bochs.DEFAULT_IPS,
                   help="emulated instructions (= TSC ticks) per emulated second "
                        f"(default {bochs.DEFAULT_IPS})")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="--script only: wall-clock seconds before Bochs is stopped (default 300)")
    p.set_defaults(func=run)


class DebugSetupError(RuntimeError):
    pass


def _inputs(args):
    """(efi, metronome.so, builtin-guest.elf), building what is stale unless --efi is given."""
    if args.efi:
        efi = args.efi
        so = efi.with_suffix(".so")
        guest = efi.parent / GUEST_ELF
    else:
        deps.ensure()
        efi = build.ensure_built(args.build_dir)
        so = pathlib.Path(args.build_dir) / "metronome.so"
        guest = pathlib.Path(args.build_dir) / GUEST_ELF
    for path, what in ((efi, "metronome.efi"), (so, "metronome.so (the symbols)"),
                       (guest, "the built-in guest with symbols")):
        if not path.exists():
            raise DebugSetupError(f"{what} not found: {path}")
    if so.stat().st_mtime + 1 < efi.stat().st_mtime:
        print(f"metronome: warning: {so} is older than {efi}: symbols may not match",
              file=sys.stderr)
    return efi, so, guest


def _config_text(args, plan):
    text = DEFAULT_CONFIG
    if args.config:
        text, note = config.ensure_run_ends(args.config.read_text())
        if note:
            print(f"metronome: {note}", file=sys.stderr)
    problem = debug_session.config_problem(text, plan)
    if problem:
        raise DebugSetupError(problem)
    return debug_session.with_debug_keys(text, plan)


def prepare(args, plan, work_dir):
    """Fills work_dir (ESP, bochsrc, symbol files, session.rc); returns (command, commands of
    the rc file, transcript path)."""
    efi, so, guest = _inputs(args)
    hypervisor = symbols.elf_table(so)
    if plan.symbol and plan.symbol not in {name for _, name in hypervisor}:
        near = difflib.get_close_matches(plan.symbol, [n for _, n in hypervisor], n=5)
        raise DebugSetupError(f"no hypervisor symbol {plan.symbol!r}"
                              + (f" (close: {', '.join(near)})" if near else ""))
    stop = symbols.address_of(hypervisor, debug_session.STOP_SYMBOL)
    enter = symbols.address_of(hypervisor, debug_session.ENTRY_SYMBOL)
    launch = symbols.instruction_address(so, debug_session.ENTRY_SYMBOL, "vmlaunch") - enter

    bochs.prepare(work_dir, efi, _config_text(args, plan), ips=args.ips)
    (work_dir / "esp.img.lock").unlink(missing_ok=True)  # left by a killed Bochs
    symbols.write(work_dir / debug_session.HYPERVISOR_SYMBOLS, hypervisor)
    symbols.write(work_dir / debug_session.GUEST_SYMBOLS,
                  symbols.elf_table(guest, debug_session.GUEST_PREFIX))
    (work_dir / debug_session.VMCS_SYMBOL_FILE).write_text(debug_session.vmcs_symbol_file())

    commands = debug_session.prologue(plan, stop, launch)
    if args.script:
        # Blank and comment-only lines are left out: session.rc holds one command a line,
        # which the transcript echoes, so replies can be matched to commands afterwards.
        commands += [line for line in args.script.read_text().splitlines()
                     if line.strip() and not line.strip().startswith("#")]
        # Without a terminal Bochs would read end-of-file at the prompt: end cleanly instead.
        if commands[-1].strip() not in ("q", "quit", "exit"):
            commands.append("quit")
    (work_dir / "session.rc").write_text("\n".join(commands) + "\n")
    transcript = (args.transcript or work_dir / TRANSCRIPT).resolve()
    transcript.unlink(missing_ok=True)
    cmd = ["bochs", "-q", "-f", "bochsrc", "-rc", "session.rc", "-dbglog", str(transcript)]
    return cmd, commands, transcript


def _interactive(cmd, work_dir):
    """Bochs on this terminal. Ctrl-C belongs to Bochs (it stops the simulation), not to us."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.run(cmd, cwd=work_dir).returncode
    finally:
        signal.signal(signal.SIGINT, previous)


def run(args):
    try:
        plan = debug_session.parse_where(args.where)
    except ValueError as e:
        print(f"metronome: --break: {e}", file=sys.stderr)
        return 2
    if not bochs.available():
        print("metronome: bochs is not installed (tools/install-deps)", file=sys.stderr)
        return 2
    work_dir = (args.work_dir or pathlib.Path(args.build_dir) / "debug").resolve()
    try:
        cmd, commands, transcript = prepare(args, plan, work_dir)
    except (DebugSetupError, symbols.SymbolError, build.BuildError, OSError,
            RuntimeError) as e:
        print(f"metronome: {e}", file=sys.stderr)
        return 2
    print(f"metronome: Bochs debugger, stop at {plan.where}; work folder {work_dir}\n"
          f"metronome: serial output: {work_dir / 'serial.txt'}; transcript: {transcript}",
          file=sys.stderr, flush=True)
    if args.script is None:
        status = _interactive(cmd, work_dir)
        print(f"metronome: Bochs exited with status {status}; transcript: {transcript}",
              file=sys.stderr)
        return 0
    result = emulator.run("bochs", cmd, work_dir, work_dir / "serial.txt", args.timeout,
                          on_line=lambda line: None, progress=True)
    try:
        text = transcript.read_text(errors="replace")
    except OSError:
        text = ""
    sys.stdout.write(text)
    base = next((r.value() for r in debug_session.split_transcript(text, commands)
                 if r.command.startswith("? rip")), None)
    print(f"metronome: image base {base:#x}" if base is not None else
          "metronome: the session did not reach the first stop (see "
          f"{result.output_path})", file=sys.stderr)
    if result.timed_out:
        print(f"metronome: stopped after {args.timeout:.0f} s", file=sys.stderr)
    print(f"metronome: transcript: {transcript}", file=sys.stderr)
    return 0 if base is not None and not result.timed_out else 1
