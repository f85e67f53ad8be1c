"""Boot metronome.efi in QEMU with OVMF.

Under TCG (these build machines) QEMU has no VMX: metronome.efi reports that and ends. Its
shutdown writes 1 to the isa-debug-exit port, which ends QEMU with status (1 << 1) | 1 = 3.
"""
import pathlib
import shutil

from . import emulator, esp, paths

FINISHED_EXIT_STATUS = 3  # metronome.efi's write of 1 to isa-debug-exit (boot/finish.cpp)


def accel_for(platform, accel="tcg"):
    """`--platform qemu-kvm` is QEMU with KVM (nested VMX, -cpu host; kvm_host.py checks the
    host first); `--platform qemu` keeps the --accel choice, TCG by default."""
    return "kvm" if platform == "qemu-kvm" else accel


def available():
    return shutil.which("qemu-system-x86_64") is not None


def prepare(work_dir, efi, config_text, accel="tcg"):
    work_dir = pathlib.Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / "serial.txt").unlink(missing_ok=True)
    esp.make_esp(work_dir / "esp.img", efi, {"metronome.cfg": config_text})
    cmd = ["qemu-system-x86_64", "-machine", f"q35,accel={accel}", "-m", "256",
           "-display", "none", "-monitor", "none", "-net", "none", "-no-reboot",
           "-serial", "file:serial.txt", "-bios", str(paths.OVMF_CODE),
           "-drive", "file=esp.img,format=raw",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    if accel == "kvm":
        cmd += ["-cpu", "host"]
    return cmd


def run(efi, config_text, work_dir, timeout=60.0, accel="tcg", on_line=None, progress=True):
    cmd = prepare(work_dir, efi, config_text, accel=accel)
    work_dir = pathlib.Path(work_dir)
    return emulator.run("qemu", cmd, work_dir, work_dir / "serial.txt", timeout,
                        on_line=on_line, progress=progress)
