"""Boot Linux bare in Bochs for the KVM peer: the same machine as Metronome's benchmarks (the
bochsrc template of bochs.py: CPU model, ips, memory), an ESP holding linux-loader.efi as
\\EFI\\BOOT\\BOOTX64.EFI, \\vmlinuz, \\initrd.img and \\cmdline.txt.

Two channels come out: the kernel's console on COM1 (serial.txt: slow, ~87 us of emulated time
per byte at 115200 baud, so the kernel is `quiet`), and port 0xE9, where the initramfs sends
everything the measurements print (Bochs writes it to its stdout, bochs.out). Both are streamed
while Bochs runs; the run ends when Bochs exits (the shutdown port), when the kernel panics, or
at the time-out.
"""
import dataclasses
import pathlib
import subprocess
import time

from . import bochs, emulator, esp, serial_log

PANIC = "Kernel panic"


@dataclasses.dataclass
class BootResult:
    e9_lines: list        # what came out of port 0xE9
    serial_lines: list    # the kernel's console
    exit_status: object   # Bochs' status; None when the tool stopped it
    timed_out: bool
    panicked: bool
    wall_seconds: float
    work_dir: pathlib.Path


def prepare(work_dir, loader_efi, vmlinuz, initrd: bytes, cmdline: str, ips, cpu_model,
            megs=256):
    """Fills work_dir with esp.img, bochsrc and cont.rc; returns the Bochs command line."""
    work_dir = pathlib.Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    for old in ("serial.txt", "bochs.log", "bochs.out"):
        (work_dir / old).unlink(missing_ok=True)
    esp.make_esp(work_dir / "esp.img", loader_efi, {
        "vmlinuz": pathlib.Path(vmlinuz).read_bytes(), "initrd.img": initrd,
        "cmdline.txt": cmdline + "\n"})
    rc = bochs.write_bochsrc(work_dir, ips=ips, cpu_model=cpu_model, megs=megs)
    (work_dir / "cont.rc").write_text("c\nquit\n")
    return ["nice", "-n", "10", "bochs", "-q", "-f", rc.name, "-rc", "cont.rc"]


class _Tail:
    """The new complete lines of a file that another process is writing."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.file = None
        self.splitter = serial_log.LineSplitter()

    def read(self, final=False):
        if self.file is None and self.path.exists():
            self.file = open(self.path, "rb")
        if self.file is None:
            return []
        lines = self.splitter.feed(self.file.read())
        if final:
            lines += self.splitter.flush()
            self.file.close()
        return lines


def boot(cmd, work_dir, timeout, on_e9=None, on_serial=None, progress=True):
    """Runs Bochs until it exits, the kernel panics, or `timeout` wall seconds pass."""
    work_dir = pathlib.Path(work_dir)
    e9_path, serial_path = work_dir / "bochs.out", work_dir / "serial.txt"
    status = emulator.Progress("bochs", progress)
    e9, serial = _Tail(e9_path), _Tail(serial_path)
    e9_lines, serial_lines = [], []
    panicked = timed_out = False
    start = time.monotonic()

    def take(final=False):
        nonlocal panicked
        for line in e9.read(final):
            e9_lines.append(line)
            status.clear()
            if on_e9:
                on_e9(line)
            status.line_printed()
        for line in serial.read(final):
            serial_lines.append(line)
            panicked = panicked or PANIC in line
            if on_serial:
                status.clear()
                on_serial(line)

    with open(e9_path, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=work_dir, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while proc.poll() is None and not panicked:
                take()
                if time.monotonic() - start > timeout:
                    timed_out = True
                    break
                status.tick("running")
                time.sleep(emulator.POLL_SECONDS)
        finally:
            exited = proc.poll() is not None
            emulator._stop(proc)
            take(final=True)
            status.clear()
    return BootResult(e9_lines=e9_lines, serial_lines=serial_lines,
                      exit_status=proc.returncode if exited else None, timed_out=timed_out,
                      panicked=panicked, wall_seconds=time.monotonic() - start,
                      work_dir=work_dir)
