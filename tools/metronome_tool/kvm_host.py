"""Can this host run metronome.efi under QEMU with KVM and nested VMX (`--platform qemu-kvm`)?

Metronome needs VMX inside the QEMU guest, and QEMU's TCG has none (tools/PLATFORMS.md): only KVM
on an Intel host, with kvm_intel's `nested` parameter on, passes VMX through (`-cpu host`).
Each condition is checked on its own so that the answer names exactly what is missing:

  1. an Intel CPU (vendor_id GenuineIntel in /proc/cpuinfo) that shows the `vmx` flag;
  2. /dev/kvm exists and opens read-write (what QEMU does with -enable-kvm);
  3. kvm_intel is loaded with nested VMX on (/sys/module/kvm_intel/parameters/nested is Y or 1).

`root` lets tests point the checks at a fake tree with proc/, dev/ and sys/ inside.
"""
import errno
import os
import pathlib

NESTED_PARAMETER = "sys/module/kvm_intel/parameters/nested"


def _default_open_rw(path):
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    os.close(fd)


def _cpu(cpuinfo_text):
    """(vendor_id, flags) of the first processor listed in /proc/cpuinfo."""
    vendor, flags = None, set()
    for line in cpuinfo_text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            if vendor is not None:
                break  # the blank line after the first processor
            continue
        key = key.strip()
        if key == "vendor_id" and vendor is None:
            vendor = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return vendor, flags


def problems(root="/", open_rw=_default_open_rw):
    """Every missing condition, in words (an empty list: the host can run qemu-kvm)."""
    root = pathlib.Path(root)
    found = []
    try:
        vendor, flags = _cpu((root / "proc/cpuinfo").read_text(errors="replace"))
    except OSError as e:
        vendor, flags = None, set()
        found.append(f"cannot read /proc/cpuinfo ({e.strerror})")
    else:
        if vendor != "GenuineIntel":
            found.append(f"the CPU is not Intel (vendor_id {vendor or 'missing'} in "
                         "/proc/cpuinfo): nested VMX under KVM needs an Intel host")
        elif "vmx" not in flags:
            found.append("the Intel CPU shows no `vmx` flag in /proc/cpuinfo (VMX off in the "
                         "firmware setup, or this host is itself a guest without nested VMX)")

    kvm = root / "dev/kvm"
    if not kvm.exists():
        found.append("/dev/kvm does not exist (KVM is not loaded: modprobe kvm_intel)")
    else:
        try:
            open_rw(kvm)
        except OSError as e:
            hint = " (add your user to the `kvm` group)" if e.errno in (errno.EACCES,
                                                                       errno.EPERM) else ""
            found.append(f"/dev/kvm cannot be opened read-write: {e.strerror}{hint}")

    nested = root / NESTED_PARAMETER
    try:
        value = nested.read_text().strip()
    except FileNotFoundError:
        found.append("kvm_intel is not loaded (/" + NESTED_PARAMETER + " is missing): "
                     "modprobe kvm_intel nested=1")
    except OSError as e:
        found.append(f"cannot read /{NESTED_PARAMETER} ({e.strerror})")
    else:
        if value not in ("Y", "y", "1"):
            found.append(f"nested VMX is off (/{NESTED_PARAMETER} is {value!r}, needs Y or 1): "
                         "modprobe -r kvm_intel && modprobe kvm_intel nested=1")
    return found
