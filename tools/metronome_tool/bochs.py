"""Boot metronome.efi in Bochs 2.7 with OVMF (tools/PLATFORMS.md has the measured facts).

Bochs exits when metronome.efi writes "Shutdown" to port 0x8900, with exit status 1: a run is
judged by its serial output (METRONOME-END), never by Bochs' exit status.
"""
import pathlib
import shutil
import string
import time

from . import config, console_link, emulator, esp, paths

DEFAULT_IPS = 50_000_000  # TSC ticks per emulated second; see tools/bochsrc.in
DEFAULT_CPU = "corei7_skylake_x"


def available():
    return shutil.which("bochs") is not None


def write_bochsrc(work_dir: pathlib.Path, ips=DEFAULT_IPS, cpu_model=DEFAULT_CPU, megs=256,
                  serial_device=None, cpus=1):
    """`serial_device`: a terminal device for COM1 (console_link.SerialPty) instead of
    serial.txt; `cpus`: the emulated processors (Bochs' cpu count)."""
    template = string.Template(paths.BOCHSRC_TEMPLATE.read_text())
    text = template.substitute(megs=megs, cpu_model=cpu_model, ips=int(ips), cpus=int(cpus),
                               ovmf=paths.OVMF_CODE, vgabios=paths.BOCHS_VGABIOS,
                               disk="esp.img", log="bochs.log",
                               serial_mode="term" if serial_device else "file",
                               serial=serial_device or "serial.txt")
    bochsrc = work_dir / "bochsrc"
    bochsrc.write_text(text)
    return bochsrc


def prepare(work_dir, efi, config_text, ips=DEFAULT_IPS, files=None, cpu_model=DEFAULT_CPU, megs=None,
            serial_device=None, cpus=None):
    """Fills work_dir with esp.img, bochsrc and cont.rc; returns the command line. `files`: more
    files for the ESP, {path on the ESP (e.g. "guests/a.elf"): bytes} (esp.make_esp); `cpus`: the
    emulated processors (default: as many as the configuration's `cpu` keys need)."""
    work_dir = pathlib.Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    for old in ("serial.txt", "bochs.log"):
        (work_dir / old).unlink(missing_ok=True)
    esp.make_esp(work_dir / "esp.img", efi, {**(files or {}), "metronome.cfg": config_text})
    bochsrc = write_bochsrc(work_dir, ips=ips, cpu_model=cpu_model,
                            megs=megs or config.memory_megs(config_text, files), serial_device=serial_device,
                            cpus=cpus or config.cpus_needed(config_text))
    # The built-in debugger stops before the first instruction: continue, and quit if the
    # simulation ever drops back to the prompt.
    (work_dir / "cont.rc").write_text("c\nquit\n")
    return ["bochs", "-q", "-f", bochsrc.name, "-rc", "cont.rc"]


# Two Bochs started at the same moment can both bind the display port and then one fails to
# listen; Bochs 2.7 then gives up on every other port too and exits before the firmware starts.
# Nothing has run yet, so the boot is simply started again.
PORT_RACE = "RFB could not bind"
PORT_RACE_RETRIES = 3


def _lost_port_race(result):
    return not result.lines and PORT_RACE in result.output_tail(40)


def run(efi, config_text, work_dir, timeout=120.0, ips=DEFAULT_IPS, on_line=None,
        progress=True, files=None, cpu_model=DEFAULT_CPU, megs=None, console=None, cpus=None):
    """Boots metronome.efi with config_text; `megs` sets the machine's memory (default: what the
    configuration needs, config.memory_megs), `cpus` its processors (default: what its `cpu`
    keys need, config.cpus_needed). `console`: what is typed on COM1 for the
    configuration's console_input guest (console_link.Typed or .Terminal)."""
    work_dir = pathlib.Path(work_dir)
    for attempt in range(PORT_RACE_RETRIES + 1):
        pty = console_link.SerialPty() if console is not None else None
        try:
            cmd = prepare(work_dir, efi, config_text, ips=ips, files=files, cpu_model=cpu_model, megs=megs,
                          serial_device=pty.device if pty else None, cpus=cpus)
            if pty is not None:
                pty.start(work_dir / "serial.txt")
                console.attach(pty)
            result = emulator.run("bochs", cmd, work_dir, work_dir / "serial.txt", timeout,
                                  on_line=on_line, progress=progress,
                                  stop=console.quit if console is not None else None)
        finally:
            if pty is not None:
                console.detach()
                pty.close()
        if not _lost_port_race(result) or attempt == PORT_RACE_RETRIES:
            return result
        time.sleep(0.5 + attempt)
    return result
