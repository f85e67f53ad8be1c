"""A 64-bit ELF executable repacked with only what a boot loader reads: the ELF header, the
program headers and each loadable segment's bytes up to its last nonzero byte. A segment's
trailing zeros (Linux's .bss, .brk and .init.scratch are stored as zeros in the vmlinux pulled out
of a bzImage: 24 of the 66 MB of Debian's 6.1 kernel) become memory the loader zero-fills
(p_memsz stays, p_filesz shrinks), and the section headers and the padding between segments go.
Every byte the guest sees in memory is the same; the file metronome.efi reads from the ESP (at the
emulated disk's PIO speed) is about half as long.
"""
import struct

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
PT_LOAD, PT_NOTE = 1, 4
PAGE = 4096


def pack(data: bytes) -> bytes:
    """The repacked file; ValueError for anything but a little-endian ELF64."""
    if len(data) < _EHDR.size or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a little-endian 64-bit ELF file")
    (ident, etype, machine, version, entry, phoff, _shoff, flags, ehsize, phentsize, phnum,
     _shentsize, _shnum, _shstrndx) = _EHDR.unpack_from(data, 0)
    if phentsize != _PHDR.size:
        raise ValueError(f"program header entries of {phentsize} bytes, not {_PHDR.size}")
    headers = [list(_PHDR.unpack_from(data, phoff + i * phentsize)) for i in range(phnum)]
    out_phoff = _EHDR.size
    at = out_phoff + phnum * phentsize
    body = bytearray()
    moved = []  # (old offset, old end, new offset) of each loadable segment's bytes
    for h in headers:
        p_type, _, offset, vaddr, _, filesz, _, _ = h
        if p_type != PT_LOAD:
            continue
        kept = data[offset:offset + filesz].rstrip(b"\0")
        # The new offset keeps offset = vaddr modulo the page, as loaders that map files expect.
        start = at + len(body)
        start += (vaddr - start) % PAGE
        body += b"\0" * (start - at - len(body)) + kept
        moved.append((offset, offset + filesz, start))
        h[2], h[5] = start, len(kept)
        h[7] = PAGE if h[7] > PAGE else h[7]
    for h in headers:
        if h[0] == PT_LOAD:
            continue
        # Other headers (PT_NOTE) point into a loadable segment's bytes: moved with them.
        for old, end, new in moved:
            if old <= h[2] and h[2] + h[5] <= end:
                h[2] = new + (h[2] - old)
                break
        else:
            h[2], h[5] = 0, 0
    ehdr = _EHDR.pack(ident, etype, machine, version, entry, out_phoff, 0, flags, ehsize, phentsize,
                      phnum, 0, 0, 0)
    return ehdr + b"".join(_PHDR.pack(*h) for h in headers) + bytes(body)
