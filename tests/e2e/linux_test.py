"""Unmodified Linux guests (Debian's own 6.1 kernel, tools/metronome_tool/linux_image.py) under
Metronome in Bochs, asserted on the report and the guests' console lines.

--case one: one Linux guest boots to its /init, which prints the kernel's release and its
  clocksource, sleeps one second (timed by the TSC: its timer interrupts, programmed through the
  TSC-deadline MSR and injected by Metronome, must wake it on time) and powers down.
--case thread-y1 / thread-y0 / thread-fixed: the 2010 thread's scenario with four kernels, three
  spinning and one waking 100 times a second in Linux's own idle loop, in a 300 ms window opened
  when all four said `ready`: `shared` with HLT trapped gives the idle one at most 2% and the
  others a third each (+-1 pp); without, and under `fixed`, each gets 25% (+-0.5 pp). Every timer
  expiry of the idle kernel is delivered.
--case panic-reserve / panic-reclaim: one of four kernels panics at its /init under `fixed`:
  `reserve` keeps the other three at 25%, `reclaim` gives them a third each (+-0.5 pp).
--case mixed: two kernels (spinning, idle) beside two built-in spin guests under `fixed`: 25% each.
--case console: what is typed on COM1 reaches a kernel's shell (console_input, as `tools/metronome
  run CFG --console NAME` does from a terminal) while a built-in guest beside it keeps printing:
  a command typed at the start waits until the kernel listens, then runs; a second one, typed when
  the first one's output arrives, wakes the halted guest and runs too. The prompt arrives as a
  piece of a line ([sh]+), the echo and output as its rest, each byte typed taken once.
"""
import sys

from e2e_support import SKIP, Checks, arguments_with
from metronome_tool import bochs, console_link, linux_image, report, scenarios, serial_log

SLEEP_TOLERANCE = 0.01  # of the second slept


THREAD = scenarios.LINUX_SEED_GUESTS
PANIC = [("a", "spin"), ("b", "spin"), ("c", "spin"), ("crash", "panic")]

# case: (configuration, {guest: (expected %, tolerance in pp)} in the window, guests that die)
CASES = {
    "one": ("duration_ms = 4000\npolicy = fixed\nyield_on_hlt = 1\non_finish = shutdown\n" +
            scenarios.linux_guest("linux", "sleep"), {}, ()),
    "thread-y1": (scenarios.linux_seed(1),
                  {"a": (33.33, 1), "b": (33.33, 1), "c": (33.33, 1), "idle": (None, 2)}, ()),
    "thread-y0": (scenarios.linux_seed(0), {g: (25, 0.5) for g in ("a", "b", "c", "idle")}, ()),
    "thread-fixed": (scenarios.linux_config("fixed", 0, THREAD), {g: (25, 0.5) for g in ("a", "b", "c", "idle")}, ()),
    "panic-reserve": (scenarios.linux_config("fixed", 1, PANIC, "on_guest_exit = reserve\n"),
                      {g: (25, 0.5) for g in ("a", "b", "c")}, ("crash",)),
    "panic-reclaim": (scenarios.linux_config("fixed", 1, PANIC, "on_guest_exit = reclaim\n"),
                      {g: (33.33, 0.5) for g in ("a", "b", "c")}, ("crash",)),
    "mixed": (scenarios.linux_config("fixed", 1, [("busy", "spin"), ("idle", "idle")]) +
              "[guest x]\nimage = spin\n[guest y]\nimage = spin\n",
              {g: (25, 0.5) for g in ("busy", "idle", "x", "y")}, ()),
    # Two CPUs (Bochs count=2): a kernel and a spinner on each, each CPU its own `fixed` frame of
    # two slots; the window opens on each CPU when its kernel is ready.
    "two-cpus": (scenarios.linux_config("fixed", 1, [("busy", "spin")]) + "cpu = 0\n" +
                 scenarios.linux_guest("idle", "idle") + "cpu = 1\n" +
                 "[guest x]\nimage = spin\n[guest y]\nimage = spin\ncpu = 1\n",
                 {g: (50, 0.5) for g in ("busy", "x", "idle", "y")}, ()),
    # The window only bounds the run here; it is long because Bochs' UART, fed from the tool's
    # pseudo-terminal, may take a few hundred ms of TSC time to pass the second command on.
    "console": ("duration_ms = 60000\nmeasure_ms = 2500\npolicy = shared\nyield_on_hlt = 1\n"
                "on_finish = shutdown\nconsole_input = sh\n" + scenarios.linux_guest("sh", "shell") +
                "[guest b]\nimage = spin\nparam = 16777216\n", {}, ()),
}
FIRST = b"echo typed-$((6*7))\n"
SECOND = b"echo second-$((2*3))\n"


def console(lines, name):
    prefix = f"[{name}] "
    return [line[len(prefix):] for line in lines if line.startswith(prefix)]


def check_linux_basics(check, guest, lines, release):
    name = guest["name"]
    out = console(lines, name)
    check.expect(f"metronome-linux: kernel {release}" in out,
                 f"{name}: no 'metronome-linux: kernel {release}' line (its /init did not run)")
    check.expect("metronome-linux: clocksource tsc" in out, f"{name}: the clocksource is not tsc")
    pc = guest.get("linux") or {}
    check.expect(pc.get("ready") is True, f"{name}: never said ready")
    check.expect(pc.get("timer_programmed", 0) > 0 and pc.get("timer_injected", 0) > 0,
                 f"{name}: timer programmed {pc.get('timer_programmed')}, injected {pc.get('timer_injected')}")
    # Every expiry is delivered: at most the one that fell due as the run ended is still pending.
    expired, injected = pc.get("timer_expired", 0), pc.get("timer_injected", 0)
    check.expect(expired - 1 <= injected <= expired, f"{name}: {expired} timer expiries, {injected} injected")
    print(f"{name}: timer programmed {pc.get('timer_programmed')}, expired {expired}, injected {injected}, "
          f"exits {sum(guest['exits'].values())}, apic accesses {pc.get('apic_accesses')}")


def check_one(check, result, rep):
    g = rep["guests"][0]
    check.equal(g["exit_reason"], "powerdown", "the guest's ending")
    check.equal(g.get("exit_code"), 0, "its powerdown code")
    slept = [line for line in console(result.lines, "linux") if line.startswith("metronome-guest: slept ")]
    check.expect(len(slept) == 1, f"one 'slept' line, got {slept}")
    if slept:
        ticks = int(slept[0].split(" in ")[1].split()[0])
        seconds = ticks / rep["tsc_hz"]
        print(f"slept 1000 ms in {ticks} TSC ticks ({seconds * 1000:.3f} ms)")
        check.expect(1.0 <= seconds <= 1.0 + SLEEP_TOLERANCE, f"slept {seconds:.4f} s for 1 s")


def console_run(args, text, image):
    """The console case's run: FIRST typed at once, SECOND when FIRST's output arrives."""
    typed = console_link.Typed(FIRST)

    def on_line(line):
        print(line, flush=True)
        if line == "[sh] typed-42":
            typed.type(SECOND)
    return bochs.run(args.efi, text, args.work_dir, timeout=args.timeout, progress=False,
                     ips=scenarios.BENCH_IPS, files=image.esp_files(), on_line=on_line, console=typed)


def check_console(check, result, rep):
    out = console(result.lines, "sh")
    check.expect("typed-42" in out, "the first command's output (typed-42) is not on sh's console")
    check.expect("second-6" in out, "the second command's output (second-6) is not on sh's console")
    # The prompt came as a piece (ash prints it without a newline), the echo of the keys after it.
    check.expect(any(line.startswith("/ #") and line.endswith("echo second-$((2*3))") for line in out),
                 "the prompt and the second command's echo are not joined into one line")
    raw = serial_log.LineSplitter().feed(result.serial_path.read_bytes())
    check.expect(any(serial_log.piece_of(line) == ("sh", "/ # ") or
                     (serial_log.piece_of(line) or ("", ""))[1].startswith("/ # ") for line in raw),
                 "the prompt did not come as a piece of a line ([sh]+ / # )")
    check.expect(len(console(result.lines, "b")) >= 3, "guest b's lines did not keep coming")
    sh = next(g for g in rep["guests"] if g["name"] == "sh")
    pc = sh.get("linux") or {}
    check.equal(pc.get("typed_bytes"), len(FIRST) + len(SECOND), "bytes typed that sh's UART took")
    check.equal(pc.get("uart_overruns"), 0, "sh's UART overruns")


def check_window(check, rep, expected, dead, lines):
    g = {x["name"]: x for x in rep["guests"]}
    window = rep.get("window")
    check.expect(window is not None and window.get("length_ticks", 0) > 0, f"the window did not open: {window}")
    for name in dead:
        check.equal(g[name]["exit_reason"], "triple_fault", f"{name}'s ending (panic=-1, reboot=t)")
        # The panic line comes before the stack dump; with panic=-1 the reset follows the dump.
        check.expect(any(line.startswith("Kernel panic - not syncing") or "] Kernel panic - not syncing" in line
                         for line in console(lines, name)), f"{name}: no 'Kernel panic - not syncing' line")
        check.expect(bool(g[name].get("last_console_lines")), f"{name}: no last console lines in the report")
    for name, (share, tolerance) in expected.items():
        # Alive at the end: running, or halted in its idle loop waiting for its next interrupt.
        check.expect(g[name]["state"] in ("running", "halted"), f"{name} at the end: {g[name]['state']}")
        w = g[name].get("window") or {}
        # The CPU time the scheduler gave the guest in the window (what it ran, the exits it
        # caused, and under `fixed` the halts it spent in its own slot), which is the promise.
        got = w.get("allotted_ppm", 0) / 1e4
        print(f"{name}: allotted {got:.2f}% of the window, ran {w.get('share_ppm', 0) / 1e4:.2f}%")
        if share is None:
            check.expect(got <= tolerance, f"{name}: {got:.2f}% of the window, expected at most {tolerance}%")
        else:
            check.expect(abs(got - share) <= tolerance, f"{name}: {got:.2f}% of the window, expected {share} ± {tolerance}")


def main():
    args = arguments_with(__doc__, default_timeout=1500, extra=lambda p: (
        p.add_argument("--case", required=True, choices=sorted(CASES) + ["prepare"]),
        p.add_argument("--build-dir", required=True, help="the build folder (the Linux image's cache)")))
    if args.case == "prepare":  # the fixture: fetch and build the image once for every case
        image = linux_image.build(args.build_dir)
        print(f"{image.kernel.package} {image.kernel.version}: vmlinux {image.vmlinux.stat().st_size} bytes, "
              f"initramfs {len(image.initrd)} bytes")
        return 0
    if not bochs.available():
        print("bochs is not installed: skipped")
        return SKIP
    text, expected, dead = CASES[args.case]
    image = linux_image.build(args.build_dir)
    # 10^9 instructions per second, as the benchmarks: a kernel's boot is then ~1.4 s of TSC time.
    if args.case == "console":
        result = console_run(args, text, image)
    else:
        result = bochs.run(args.efi, text, args.work_dir, timeout=args.timeout, progress=False,
                           ips=scenarios.BENCH_IPS, files=image.esp_files())
    check = Checks()
    check.expect(result.ended, "no METRONOME-END line")
    check.equal(serial_log.errors(result.lines), [], "METRONOME-ERROR lines")
    try:
        rep = report.parse(result.lines)
    except ValueError as e:
        check.expect(False, f"report: {e}")
        return check.finish(result)
    check.equal(report.totals_problems(rep), [], "report totals")
    for guest in rep["guests"]:
        if guest.get("linux") is not None and guest["name"] not in dead:
            check_linux_basics(check, guest, result.lines, image.kernel.release)
    if args.case == "one":
        check_one(check, result, rep)
    elif args.case == "console":
        check_console(check, result, rep)
    else:
        check_window(check, rep, expected, dead, result.lines)
    return check.finish(result)


if __name__ == "__main__":
    sys.exit(main())
