"""The files a Linux guest boots from, built in the build folder (nothing installed, nothing
committed): Debian's own kernel as an uncompressed vmlinux (debian_kernel.py fetches the package
`linux-image-amd64` depends on and pulls the ELF out of its bzImage, so the guest does not spend
~4x10^9 instructions decompressing itself; elf_pack.py drops the zeros it stores for .bss), and an initramfs of Debian's busybox-static, the
project's metronome-guest (guest/linux/metronome_guest.c) and an /init that runs what the kernel
command line's `metronome.run=` asks for:

    spin      CPU-bound, forever           idle     wakes at 100 Hz, works a little, sleeps
    sleep     `sleep 1` timed by the TSC, then powers down
    panic     crashes the kernel at once (echo c > /proc/sysrq-trigger); it never says `ready`:
              a stopped guest counts as arrived, so the window opens when the others are ready
    shell     an interactive shell on ttyS0 (tools/metronome run --console NAME)

Every other workload says `ready` (a hypercall) when it starts, which opens the measurement window
once every guest has. The ESP gets \\linux\\vmlinux and \\linux\\initrd.img.
"""
import dataclasses
import pathlib

from . import config, debian_kernel, elf_pack, esp, initramfs

BUSYBOX_PACKAGE = "busybox-static"
ESP_KERNEL = "linux/vmlinux"
ESP_INITRD = "linux/initrd.img"
CONFIG_KERNEL = "\\linux\\vmlinux"
CONFIG_INITRD = "\\linux\\initrd.img"
BUSYBOX_APPLETS = ("sh", "mount", "cat", "echo", "sleep", "uname", "sed", "sync", "poweroff",
                   "halt", "reboot", "ls", "dmesg", "grep", "ps", "head", "date", "true")

# The kernel command line every Linux guest gets, before its own `cmdline` (README, "Linux
# guests"): the serial console and early console on COM1; no IOAPIC (interrupts come through the
# 8259 and LINT0), no ACPI or PCI to probe; the TSC trusted as the clocksource; a reboot or panic
# ends in a triple fault, which the report names; no speculation mitigations (the guest's CPUID
# announces none of their MSRs); no crypto self-tests at boot (crypto_algapi_init runs them: 0.74
# of the 1.37 s from startup_64 to /init, measured with initcall_debug).
BASE_CMDLINE = ("console=ttyS0,115200 earlycon=uart8250,io,0x3f8,115200 noapic acpi=off pci=off "
                "tsc=reliable nokaslr 8250.nr_uarts=1 reboot=t panic=-1 mitigations=off "
                "io_delay=none cryptomgr.notests quiet")

INIT = """#!/bin/sh
# /init of Metronome's Linux guests (tools/metronome_tool/linux_image.py).
mount -t proc proc /proc
mount -t sysfs sys /sys
echo "metronome-linux: kernel $(uname -r)"
echo "metronome-linux: clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
run=$(sed -n 's/.*metronome.run=\\([a-z]*\\).*/\\1/p' /proc/cmdline)
echo "metronome-linux: run ${run:-none}"
case "$run" in
spin) metronome-guest ready; exec metronome-guest spin ;;
idle) metronome-guest ready; exec metronome-guest idle 100 ;;
sleep) metronome-guest ready; metronome-guest sleep 1000; metronome-guest powerdown 0 ;;
panic) echo c > /proc/sysrq-trigger ;;
shell) metronome-guest ready; exec sh -i </dev/console >/dev/console 2>&1 ;;
esac
echo "metronome-linux: nothing to run; powering down"
metronome-guest powerdown 1
"""


@dataclasses.dataclass
class LinuxImage:
    kernel: debian_kernel.DebianKernel
    vmlinux: pathlib.Path
    initrd: bytes

    def esp_files(self):
        """{path on the ESP: bytes} for esp.make_esp."""
        return {ESP_KERNEL: self.vmlinux.read_bytes(), ESP_INITRD: self.initrd}


def vmlinux_for(kernel: debian_kernel.DebianKernel, cache: pathlib.Path) -> pathlib.Path:
    """The kernel's vmlinux, extracted once into the cache and repacked without its segments'
    trailing zeros (elf_pack.py: the same memory image in about half the bytes)."""
    out = pathlib.Path(cache) / f"vmlinux-{kernel.release}.packed"
    if not out.exists() or out.stat().st_mtime < kernel.vmlinuz.stat().st_mtime:
        partial = out.with_suffix(".partial")
        debian_kernel.extract_vmlinux(kernel.vmlinuz, partial)
        partial.write_bytes(elf_pack.pack(partial.read_bytes()))
        partial.replace(out)
    return out


def initramfs_entries(busybox: bytes, guest_program: bytes, init_script: str = INIT):
    entries = [
        initramfs.directory("dev"), initramfs.directory("proc"), initramfs.directory("sys"),
        initramfs.directory("tmp"),
        initramfs.device("dev/console", "c", 5, 1), initramfs.device("dev/null", "c", 1, 3, 0o666),
        initramfs.device("dev/ttyS0", "c", 4, 64),
        initramfs.file("bin/busybox", busybox, 0o755),
        initramfs.file("bin/metronome-guest", guest_program, 0o755),
        initramfs.file("init", init_script, 0o755),
    ]
    entries += [initramfs.symlink(f"bin/{applet}", "busybox") for applet in BUSYBOX_APPLETS]
    return entries


def guest_program_path(build_dir) -> pathlib.Path:
    return pathlib.Path(build_dir) / "linux" / "metronome-guest"


def build(build_dir) -> LinuxImage:
    """Fetches (once) the kernel and busybox, extracts vmlinux, and writes the initramfs."""
    cache = debian_kernel.cache_dir(build_dir)
    with debian_kernel.cache_lock(cache):
        kernel = debian_kernel.fetch(cache)
        vmlinux = vmlinux_for(kernel, cache)
        busybox_deb, busybox_root = debian_kernel.fetch_package(BUSYBOX_PACKAGE, cache)
    busybox = busybox_root / "bin" / "busybox"
    if not busybox.exists():
        raise debian_kernel.KernelError(f"{busybox_deb.name} has no bin/busybox")
    program = guest_program_path(build_dir)
    if not program.exists():
        raise debian_kernel.KernelError(f"{program} is missing (build the metronome-guest target)")
    archive = initramfs.build(initramfs_entries(busybox.read_bytes(), program.read_bytes()))
    return LinuxImage(kernel=kernel, vmlinux=vmlinux, initrd=archive)


def guest_cmdline(run: str, extra: str = "") -> str:
    """The `cmdline` of a guest running workload `run`."""
    return " ".join(part for part in (BASE_CMDLINE, f"metronome.run={run}", extra) if part)


def files_for(config_text: str, build_dir, existing=None):
    """The ESP files a configuration needs from here: when a guest names this module's kernel
    (\\linux\\vmlinux) or initrd (\\linux\\initrd.img) and `existing` does not provide it, the
    Linux image is built (once) and both come from it. {} for configurations without them."""
    existing = existing or {}
    named = set(config.esp_paths(config_text, "kernel")) | set(config.esp_paths(config_text, "initrd"))
    wanted = [p for p in (CONFIG_KERNEL, CONFIG_INITRD) if p in named and esp.esp_path(p) not in existing]
    if not wanted:
        return {}
    from . import build as build_mod  # the tools' CMake driver
    build_mod.ensure_target(build_dir, "metronome-guest")
    files = build(build_dir).esp_files()
    return {path: data for path, data in files.items() if path not in existing}
