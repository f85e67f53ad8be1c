"""Unmodified Linux guests (Debian's own 6.1 kernel, tools/metronome_tool/linux_image.py) under
Metronome in Bochs, asserted on the report and the guests' console lines.

--case one: one Linux guest boots to its /init, which prints the kernel's release and its
  clocksource, sleeps one second (timed by the TSC: the guest's timer interrupts, programmed
  through the TSC-deadline MSR and injected by Metronome, must wake it on time) and powers down.
--case mixed: two Linux guests (one spinning, one waking 100 times a second) beside two built-in
  spin guests under `fixed`: in the measurement window (opened when both kernels said `ready`)
  each of the four gets its 25% (+-0.5 pp), whatever the kernels do with their timers.
"""
import sys

from e2e_support import SKIP, Checks, arguments_with
from metronome_tool import bochs, linux_image, report, serial_log

SHARE_TOLERANCE = 0.5   # percentage points
SLEEP_TOLERANCE = 0.01  # of the second slept


def guest_section(name, run):
    return (f"[guest {name}]\nkernel = {linux_image.CONFIG_KERNEL}\ninitrd = {linux_image.CONFIG_INITRD}\n"
            f"memory_mib = 128\ntick_hz = 0\ncmdline = {linux_image.guest_cmdline(run)}\n")


ONE_CONFIG = "duration_ms = 4000\npolicy = fixed\nyield_on_hlt = 1\n" + guest_section("linux", "sleep")

MIXED_CONFIG = ("duration_ms = 8000\nmeasure_ms = 100\npolicy = fixed\nslice_us = 1000\nyield_on_hlt = 1\n" +
                guest_section("busy", "spin") + guest_section("idle", "idle") +
                "[guest a]\nimage = spin\n[guest b]\nimage = spin\n")


def console(lines, name):
    prefix = f"[{name}] "
    return [line[len(prefix):] for line in lines if line.startswith(prefix)]


def parsed(check, result):
    check.equal(serial_log.errors(result.lines), [], "METRONOME-ERROR lines")
    try:
        return report.parse(result.lines)
    except ValueError as e:
        check.expect(False, f"report: {e}")
        return None


def check_linux_basics(check, guest, lines, release):
    out = console(lines, guest["name"])
    check.expect(f"metronome-linux: kernel {release}" in out,
                 f"{guest['name']}: no 'metronome-linux: kernel {release}' line (its /init did not run)")
    check.expect("metronome-linux: clocksource tsc" in out, f"{guest['name']}: the clocksource is not tsc")
    pc = guest.get("linux") or {}
    check.expect(pc.get("ready") is True, f"{guest['name']}: never said ready")
    check.expect(pc.get("timer_programmed", 0) > 0 and pc.get("timer_injected", 0) > 0,
                 f"{guest['name']}: timer programmed {pc.get('timer_programmed')}, injected {pc.get('timer_injected')}")
    check.expect(pc.get("eois", 0) > 0, f"{guest['name']}: no EOI")


def case_one(check, result, rep, release):
    g = rep["guests"][0]
    check_linux_basics(check, g, result.lines, release)
    check.equal(g["exit_reason"], "powerdown", "the guest's ending")
    check.equal(g.get("exit_code"), 0, "its powerdown code")
    slept = [line for line in console(result.lines, "linux") if line.startswith("metronome-guest: slept ")]
    check.expect(len(slept) == 1, f"one 'slept' line, got {slept}")
    if slept:
        ticks = int(slept[0].split(" in ")[1].split()[0])
        hz = rep["tsc_hz"]
        error = ticks / hz - 1.0
        print(f"slept 1000 ms in {ticks} TSC ticks ({ticks / hz * 1000:.3f} ms)")
        check.expect(0 <= error <= SLEEP_TOLERANCE, f"slept {ticks / hz:.4f} s for 1 s")


def case_mixed(check, result, rep, release):
    g = {x["name"]: x for x in rep["guests"]}
    window = rep.get("window")
    check.expect(window is not None and window.get("length_ticks", 0) > 0, f"the window did not open: {window}")
    for name in ("busy", "idle"):
        check_linux_basics(check, g[name], result.lines, release)
    for name in ("busy", "idle", "a", "b"):
        check.equal(g[name]["state"], "running", f"{name} at the end")
        w = g[name].get("window") or {}
        share = w.get("allotted_ppm", 0) / 1e4
        print(f"{name}: {share:.2f}% of the window allotted, {w.get('share_ppm', 0) / 1e4:.2f}% ran")
        check.expect(abs(share - 25) <= SHARE_TOLERANCE, f"{name}: {share:.2f}% of the window, expected 25%")


def main():
    args = arguments_with(__doc__, default_timeout=1500, extra=lambda p: (
        p.add_argument("--case", required=True, choices=["one", "mixed"]),
        p.add_argument("--build-dir", required=True, help="the build folder (Linux image cache)")))
    if not bochs.available():
        print("bochs is not installed: skipped")
        return SKIP
    text = {"one": ONE_CONFIG, "mixed": MIXED_CONFIG}[args.case]
    image = linux_image.build(args.build_dir)
    result = bochs.run(args.efi, text, args.work_dir, timeout=args.timeout, progress=False,
                       files=image.esp_files())
    check = Checks()
    check.expect(result.ended, "no METRONOME-END line")
    rep = parsed(check, result)
    if rep is not None:
        {"one": case_one, "mixed": case_mixed}[args.case](check, result, rep, image.kernel.release)
    return check.finish(result)


if __name__ == "__main__":
    sys.exit(main())
