"""The bare Linux that `tools/metronome peer kvm` boots: Debian's kernel (debian_kernel.py), its
own KVM modules, Debian's busybox-static and the project's kvm-peer in an initramfs written in
Python (initramfs.py), with /init from peer_runs.py. Nothing here is installed on the host or
committed: it all lives in the build folder (BUILD/debian/ caches the packages)."""
import dataclasses
import pathlib

from . import debian_kernel, initramfs, peer_runs

BUSYBOX_PACKAGE = "busybox-static"


@dataclasses.dataclass
class PeerImage:
    kernel: debian_kernel.DebianKernel
    busybox_deb: pathlib.Path
    initrd: bytes


def cache_dir(build_dir):
    return debian_kernel.cache_dir(build_dir)


def initramfs_entries(busybox: bytes, kvm_peer: bytes, modules: dict, init_script: str):
    """The initramfs's entries. modules: {name: ELF bytes} for peer_runs.KVM_MODULES."""
    entries = [
        initramfs.directory("dev"), initramfs.directory("proc"), initramfs.directory("sys"),
        initramfs.directory("tmp"),
        # The kernel opens /dev/console for /init before anything is mounted.
        initramfs.device("dev/console", "c", 5, 1), initramfs.device("dev/null", "c", 1, 3, 0o666),
        initramfs.file("bin/busybox", busybox, 0o755),
        initramfs.file("bin/kvm-peer", kvm_peer, 0o755),
        initramfs.file("init", init_script, 0o755),
    ]
    entries += [initramfs.symlink(f"bin/{applet}", "busybox")
                for applet in peer_runs.BUSYBOX_APPLETS]
    entries += [initramfs.file(f"lib/modules/{name}.ko", modules[name])
                for name in peer_runs.KVM_MODULES]
    return entries


def build(build_dir, kvm_peer: pathlib.Path, init_script: str) -> PeerImage:
    """Fetches (once) the kernel and busybox, and writes the initramfs for `init_script`."""
    cache = cache_dir(build_dir)
    with debian_kernel.cache_lock(cache):
        kernel = debian_kernel.fetch(cache)
        busybox_deb, busybox_root = debian_kernel.fetch_package(BUSYBOX_PACKAGE, cache)
    busybox = busybox_root / "bin" / "busybox"
    if not busybox.exists():
        raise debian_kernel.KernelError(f"{busybox_deb.name} has no bin/busybox")
    modules = {name: debian_kernel.module_bytes(kernel.module(name))
               for name in peer_runs.KVM_MODULES}
    archive = initramfs.build(initramfs_entries(busybox.read_bytes(),
                                                pathlib.Path(kvm_peer).read_bytes(), modules,
                                                init_script))
    return PeerImage(kernel=kernel, busybox_deb=busybox_deb, initrd=archive)
