"""An initramfs written in Python: a cpio archive in the "newc" format (the only one the kernel
unpacks; Documentation/driver-api/early-userspace/buffer-format.rst), from a list of entries —
files, directories, symbolic links and device nodes — so no root, no mknod and no cpio(1).

    archive = initramfs.build([
        initramfs.directory("dev"),
        initramfs.device("dev/console", "c", 5, 1),
        initramfs.file("init", script_bytes, 0o755),
        initramfs.symlink("bin/sh", "busybox"),
    ])

The kernel does not create parent folders while unpacking, so build() adds every missing parent
(mode 0755) before its first child; the entries otherwise keep their order.
"""
import dataclasses
import stat

MAGIC = b"070701"
TRAILER = "TRAILER!!!"


class InitramfsError(ValueError):
    pass


@dataclasses.dataclass
class Entry:
    path: str          # inside the archive, no leading slash ("bin/busybox")
    mode: int          # file type and permission bits (stat.S_IFREG | 0o755, ...)
    data: bytes = b""  # a file's content, or a symlink's target
    rdev: tuple = (0, 0)  # a device node's (major, minor)


def _clean(path: str) -> str:
    p = path.strip("/")
    if not p or any(part in ("", ".", "..") for part in p.split("/")):
        raise InitramfsError(f"{path!r} is not a path inside the archive")
    return p


def file(path, data, mode=0o644):
    return Entry(_clean(path), stat.S_IFREG | mode,
                 data.encode() if isinstance(data, str) else bytes(data))


def directory(path, mode=0o755):
    return Entry(_clean(path), stat.S_IFDIR | mode)


def symlink(path, target):
    if not target:
        raise InitramfsError(f"symlink {path!r} has no target")
    return Entry(_clean(path), stat.S_IFLNK | 0o777, target.encode())


def device(path, kind, major, minor, mode=0o600):
    """A device node: kind "c" (character) or "b" (block)."""
    types = {"c": stat.S_IFCHR, "b": stat.S_IFBLK}
    if kind not in types:
        raise InitramfsError(f"device {path!r}: kind must be 'c' or 'b', not {kind!r}")
    return Entry(_clean(path), types[kind] | mode, rdev=(major, minor))


def _pad4(n):
    return (4 - n % 4) % 4


def _header(ino, entry, nlink, size, name_size):
    fields = (ino, entry.mode, 0, 0, nlink, 0, size, 0, 0, entry.rdev[0], entry.rdev[1],
              name_size, 0)  # uid, gid and mtime 0: the same inputs give the same bytes
    return MAGIC + b"".join(b"%08X" % f for f in fields)


def _record(ino, entry, nlink=1):
    name = entry.path.encode() + b"\0"
    data = entry.data if stat.S_ISREG(entry.mode) or stat.S_ISLNK(entry.mode) else b""
    head = _header(ino, entry, nlink, len(data), len(name)) + name
    return head + b"\0" * _pad4(len(head)) + data + b"\0" * _pad4(len(data))


def with_parents(entries):
    """The entries with every missing parent folder added before its first child; refuses a
    path given twice and a parent that is not a folder."""
    seen = {}
    out = []
    for e in entries:
        parts = e.path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent not in seen:
                seen[parent] = directory(parent)
                out.append(seen[parent])
            elif not stat.S_ISDIR(seen[parent].mode):
                raise InitramfsError(f"{e.path!r}: {parent!r} is not a folder")
        if e.path in seen:
            raise InitramfsError(f"{e.path!r} is in the list twice")
        seen[e.path] = e
        out.append(e)
    return out


def build(entries) -> bytes:
    """The archive's bytes: each entry (parents first), then the trailer."""
    out = []
    ino = 1
    for e in with_parents(entries):
        out.append(_record(ino, e, nlink=2 if stat.S_ISDIR(e.mode) else 1))
        ino += 1
    out.append(_record(0, Entry(TRAILER, 0)))
    return b"".join(out)


def parse(archive: bytes):
    """The entries of a newc archive (the tests read back what build() wrote)."""
    entries = []
    pos = 0
    while True:
        if archive[pos:pos + 6] != MAGIC:
            raise InitramfsError(f"no newc header at offset {pos}")
        fields = [int(archive[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, rmaj, rmin, name_size = fields[1], fields[6], fields[9], fields[10], fields[11]
        name_start = pos + 110
        name = archive[name_start:name_start + name_size - 1].decode()
        data_start = name_start + name_size + _pad4(110 + name_size)
        data = archive[data_start:data_start + size]
        pos = data_start + size + _pad4(size)
        if name == TRAILER:
            return entries
        entries.append(Entry(name, mode, data, (rmaj, rmin)))
