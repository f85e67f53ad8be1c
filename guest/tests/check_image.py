#!/usr/bin/env python3
"""CTest "guest: image layout": checks the built-in guest image against guest/ABI.md with nm and
readelf, without running it. Exit 0 when every check passes; otherwise one line per failure."""
import argparse
import os
import re
import subprocess
import sys

IMAGE_BASE = 0x10000
IMAGE_LIMIT = 0x100000  # nothing above 1 MiB: the image must fit the smallest guest
MAX_IMAGE_BYTES = 64 * 1024
ALLOWED_ALLOC_SECTIONS = {".text", ".rodata", ".data", ".bss"}


def run(*command):
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--elf", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--nm", default="nm")
    ap.add_argument("--readelf", default="readelf")
    ap.add_argument("--workloads", nargs="+", required=True)
    ap.add_argument("--abi-doc", help="guest/ABI.md: its example must be examples/hello.S verbatim")
    ap.add_argument("--example", help="guest/examples/hello.S")
    args = ap.parse_args()

    for path in (args.elf, args.bin):
        if not os.path.exists(path):
            print(f"FAIL: {path} does not exist (build the builtin-guest target first)")
            return 1

    failures = []

    def check(condition, message):
        if not condition:
            failures.append(message)

    symbols = {}
    for line in run(args.nm, args.elf).splitlines():
        parts = line.split()
        if len(parts) == 3:
            symbols[parts[2]] = int(parts[0], 16)
    undefined = run(args.nm, "-u", args.elf).split()
    check(not undefined, f"undefined symbols: {' '.join(undefined)}")

    for name in ("_start", "__bss_start", "__bss_end", "__image_end"):
        check(name in symbols, f"symbol {name} is missing")
    if failures:
        return report(failures)
    check(symbols["_start"] == IMAGE_BASE,
          f"_start is at {symbols['_start']:#x}, must be at {IMAGE_BASE:#x}")
    check(symbols["__bss_start"] <= symbols["__bss_end"] <= symbols["__image_end"],
          "__bss_start <= __bss_end <= __image_end does not hold")
    image_bytes = symbols["__image_end"] - IMAGE_BASE
    check(image_bytes < MAX_IMAGE_BYTES,
          f"the image with .bss is {image_bytes} bytes, must stay under {MAX_IMAGE_BYTES}")

    header = run(args.readelf, "-h", args.elf)
    check(re.search(r"Type:\s+EXEC", header) is not None, "the ELF is not an executable (EXEC)")
    entry = re.search(r"Entry point address:\s+(0x[0-9a-f]+)", header)
    check(entry is not None and int(entry.group(1), 16) == IMAGE_BASE,
          f"the ELF entry point is not {IMAGE_BASE:#x}")

    relocations = run(args.readelf, "-r", args.elf)
    check("There are no relocations in this file." in relocations,
          "the image has relocations; it must be linked at its final address")

    # Program headers: readelf -lW prints one line per segment.
    segments = 0
    for line in run(args.readelf, "-lW", args.elf).splitlines():
        fields = line.split()
        if not fields or not fields[0].isupper() or len(fields) < 6:
            continue
        kind = fields[0]
        if kind in ("INTERP", "DYNAMIC", "TLS", "GNU_RELRO"):
            failures.append(f"unexpected {kind} segment")
            continue
        if kind != "LOAD":
            continue
        segments += 1
        vaddr, memsz = int(fields[2], 16), int(fields[5], 16)
        check(vaddr >= IMAGE_BASE, f"a LOAD segment starts at {vaddr:#x}, below {IMAGE_BASE:#x}")
        check(vaddr + memsz <= IMAGE_LIMIT,
              f"a LOAD segment ends at {vaddr + memsz:#x}, above {IMAGE_LIMIT:#x}")
    check(segments > 0, "no LOAD segments found")

    for line in run(args.readelf, "-SW", args.elf).splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+[0-9a-f]+"
                     r"\s+[0-9a-f]+\s+(\S*A\S*)\s", line)
        if m and m.group(1) not in ALLOWED_ALLOC_SECTIONS:
            failures.append(f"unexpected allocated section {m.group(1)} (not in linker/guest.ld)")

    with open(args.bin, "rb") as f:
        image = f.read()
    check(0 < len(image) < MAX_IMAGE_BYTES,
          f"{args.bin} is {len(image)} bytes, must be non-empty and under {MAX_IMAGE_BYTES}")
    check(len(image) <= symbols["__bss_start"] - IMAGE_BASE + 16,
          "the flat image extends past __bss_start (it should end where .bss begins)")
    for name in args.workloads:
        check(name.encode() + b"\0" in image, f"workload name {name!r} is not in the image")
    check(image[:1] == b"\xfa", "the image does not begin with _start's first instruction (cli)")

    if args.abi_doc and args.example:
        with open(args.abi_doc) as f:
            blocks = re.findall(r"^```asm\n(.*?)^```", f.read(), re.M | re.S)
        with open(args.example) as f:
            example = f.read()
        check(example in blocks, f"the assembly example in {args.abi_doc} differs from {args.example}")
    return report(failures)


def report(failures):
    for failure in failures:
        print(f"FAIL: {failure}")
    if not failures:
        print("guest image layout: all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
