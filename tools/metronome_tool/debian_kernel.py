"""Debian's stock kernel, fetched and unpacked into the build folder (never installed, never
committed): the package that `linux-image-amd64` depends on, downloaded with `apt-get download`
and extracted with `dpkg-deb -x`. `fetch()` returns where everything is; `extract_vmlinux()` pulls
the uncompressed ELF out of the bzImage (vmlinuz) with Python's own decompressors.

Used by `tools/metronome peer kvm` (the kernel boots bare in Bochs) and meant for Linux guests
under Metronome, which need the ELF rather than the EFI application.
"""
import contextlib
import dataclasses
import fcntl
import gzip
import lzma
import pathlib
import re
import struct
import subprocess

META_PACKAGE = "linux-image-amd64"
_IMAGE_PACKAGE = re.compile(r"^\s*(?:Pre)?Depends:\s*<?(linux-image-(\d[^\s>]*))>?\s*$")


class KernelError(RuntimeError):
    pass


def cache_dir(build_dir) -> pathlib.Path:
    """Where the downloaded packages and what is extracted from them live: BUILD/debian."""
    return pathlib.Path(build_dir) / "debian"


@contextlib.contextmanager
def cache_lock(cache: pathlib.Path):
    """Held while the cache is filled: `run --linux` boots its two runs from two threads, and
    tests or tools may run side by side, all fetching into one build folder. The first to come
    downloads and extracts; the others wait for it, then find everything there. An flock on a
    file of the cache, so it excludes threads (each opens its own) and processes alike. Not
    re-entrant: take it once, around all of one caller's cache work."""
    cache = pathlib.Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@dataclasses.dataclass
class DebianKernel:
    package: str          # linux-image-6.1.0-57-amd64
    version: str          # the package's version, 6.1.192-3
    release: str          # the kernel release (uname -r, the module folder): 6.1.0-57-amd64
    deb: pathlib.Path     # the downloaded .deb
    root: pathlib.Path    # the extracted tree (boot/, lib/modules/RELEASE/)
    vmlinuz: pathlib.Path
    modules: pathlib.Path  # lib/modules/RELEASE

    def module(self, name):
        """The path of module `name` (kvm-intel) in the tree: .ko, or .ko.xz / .ko.zst."""
        for path in sorted(self.modules.rglob(name + ".ko*")):
            return path
        raise KernelError(f"{name}.ko is not in {self.modules}")


def image_package(apt_cache_depends_output: str, meta=META_PACKAGE):
    """The kernel image package named by `apt-cache depends linux-image-amd64`'s output: the
    first Depends line that names a linux-image-RELEASE package (a virtual one is printed in
    angle brackets). Returns (package, release)."""
    for line in apt_cache_depends_output.splitlines():
        m = _IMAGE_PACKAGE.match(line)
        if m and m.group(1) != meta:
            return m.group(1), m.group(2)
    raise KernelError(f"`apt-cache depends {meta}` names no linux-image-RELEASE package (are "
                      f"apt's package lists there? `apt-get update`); its output was:\n"
                      f"{apt_cache_depends_output.strip() or '(nothing)'}")


def _run(cmd, cwd=None):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise KernelError(f"`{' '.join(cmd)}` failed (status {proc.returncode}): "
                          f"{(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def resolve(meta=META_PACKAGE):
    """(package, release) of the kernel the meta-package depends on (apt's candidate)."""
    return image_package(_run(["apt-cache", "depends", meta]), meta)


def deb_version(deb: pathlib.Path):
    return _run(["dpkg-deb", "-f", str(deb), "Version"]).strip()


def _download(package, folder: pathlib.Path):
    """The .deb of `package` in `folder`, downloaded once (apt-get download names it
    PACKAGE_VERSION_ARCH.deb, with ':' written as %3a)."""
    folder.mkdir(parents=True, exist_ok=True)
    found = sorted(folder.glob(f"{package}_*.deb"))
    if not found:
        _run(["apt-get", "download", package], cwd=folder)
        found = sorted(folder.glob(f"{package}_*.deb"))
    if not found:
        raise KernelError(f"apt-get download {package} left no .deb in {folder}")
    return found[-1]


def fetch_package(package, cache: pathlib.Path):
    """Downloads and extracts any Debian package into cache/PACKAGE (once); returns (deb, root)."""
    cache = pathlib.Path(cache)
    deb = _download(package, cache / "debs")
    root = cache / package
    stamp = root / ".extracted-from"
    if not stamp.exists() or stamp.read_text() != deb.name:
        if root.exists():
            _run(["rm", "-rf", str(root)])
        root.mkdir(parents=True)
        _run(["dpkg-deb", "-x", str(deb), str(root)])
        stamp.write_text(deb.name)
    return deb, root


def fetch(cache: pathlib.Path, meta=META_PACKAGE) -> DebianKernel:
    """The kernel `meta` depends on, downloaded and extracted under `cache` (build/peer/...)."""
    package, release = resolve(meta)
    deb, root = fetch_package(package, cache)
    vmlinuz = root / "boot" / f"vmlinuz-{release}"
    modules = root / "lib" / "modules" / release
    for needed in (vmlinuz, modules):
        if not needed.exists():
            raise KernelError(f"{deb.name} has no {needed.relative_to(root)}")
    return DebianKernel(package=package, version=deb_version(deb), release=release, deb=deb,
                        root=root, vmlinuz=vmlinuz, modules=modules)


def module_bytes(path: pathlib.Path) -> bytes:
    """A module's ELF bytes: .ko as is, .ko.xz decompressed (insmod wants the plain ELF)."""
    data = pathlib.Path(path).read_bytes()
    if path.name.endswith(".ko.xz"):
        data = lzma.decompress(data)
    elif path.name.endswith(".ko.gz"):
        data = gzip.decompress(data)
    elif not path.name.endswith(".ko"):
        raise KernelError(f"{path.name}: unknown module compression (Python has xz and gzip)")
    if data[:4] != b"\x7fELF":
        raise KernelError(f"{path.name} is not an ELF module")
    return data


# --- The bzImage (Documentation/x86/boot.rst): setup sectors, then the protected-mode part,
# whose payload (at payload_offset, payload_length bytes) is the compressed vmlinux.

_HEADER_MAGIC = b"HdrS"
_COMPRESSORS = (
    (b"\xfd7zXZ\x00", "xz"), (b"\x1f\x8b", "gzip"), (b"\x5d\x00\x00", "lzma"),
    (b"\x28\xb5\x2f\xfd", "zstd"), (b"BZh", "bzip2"), (b"\x02\x21\x4c\x18", "lz4"),
    (b"\x89LZO", "lzo"))


def bzimage_payload(image: bytes):
    """(compressor name, compressed payload) of a bzImage."""
    if len(image) < 0x250 or image[0x202:0x206] != _HEADER_MAGIC:
        raise KernelError("not a bzImage: no 'HdrS' boot header at 0x202")
    version = struct.unpack_from("<H", image, 0x206)[0]
    if version < 0x208:
        raise KernelError(f"boot protocol {version >> 8}.{version & 0xff} has no payload fields "
                          "(2.08 and later do)")
    setup_sects = image[0x1F1] or 4
    offset, length = struct.unpack_from("<II", image, 0x248)
    start = (setup_sects + 1) * 512 + offset
    payload = image[start:start + length]
    if len(payload) != length:
        raise KernelError("the payload runs past the end of the image")
    for magic, name in _COMPRESSORS:
        if payload.startswith(magic):
            return name, payload
    raise KernelError(f"unknown payload compression (first bytes {payload[:6].hex()})")


def extract_vmlinux(vmlinuz: pathlib.Path, out: pathlib.Path = None) -> bytes:
    """The uncompressed vmlinux ELF inside a bzImage; written to `out` when given. The kernel's
    build appends the uncompressed size (4 bytes, little-endian) to the compressed stream: it is
    checked against what came out."""
    name, payload = bzimage_payload(pathlib.Path(vmlinuz).read_bytes())
    if name == "xz":
        d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    elif name == "lzma":
        d = lzma.LZMADecompressor(format=lzma.FORMAT_ALONE)
    elif name == "gzip":
        d = None
    else:
        raise KernelError(f"the payload is {name}-compressed: Python's standard library "
                          "decompresses only xz, lzma and gzip")
    if d is None:
        elf = gzip.decompress(payload[:-4]) if len(payload) > 4 else b""
    else:
        elf = d.decompress(payload)
    expected = struct.unpack_from("<I", payload, len(payload) - 4)[0]
    if elf[:4] != b"\x7fELF":
        raise KernelError("the decompressed payload is not an ELF file")
    if len(elf) != expected:
        raise KernelError(f"decompressed {len(elf)} bytes, the image says {expected}")
    if out is not None:
        pathlib.Path(out).write_bytes(elf)
    return elf
