#!/usr/bin/env python3
"""Host-only checks of tools/metronome_tool/debian_kernel.py: which kernel package
`apt-cache depends linux-image-amd64` names (on made-up outputs), the bzImage payload and the
vmlinux inside it (on a made-up bzImage), and module decompression. No apt, no network."""
import fcntl
import gzip
import lzma
import pathlib
import struct
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))

from metronome_tool import debian_kernel as dk  # noqa: E402
from metronome_tool import linux_image  # noqa: E402

BOOKWORM = """linux-image-amd64
  Depends: linux-image-6.1.0-57-amd64
"""


class ResolveTest(unittest.TestCase):
    def test_bookworm_meta_package(self):
        self.assertEqual(dk.image_package(BOOKWORM), ("linux-image-6.1.0-57-amd64", "6.1.0-57-amd64"))

    def test_first_image_package_wins_and_others_are_skipped(self):
        text = ("linux-image-amd64\n  Depends: initramfs-tools\n"
                "  Depends: <linux-image-6.12.9-amd64>\n  Depends: linux-image-6.1.0-1-amd64\n"
                "  Recommends: firmware-linux-free\n")
        self.assertEqual(dk.image_package(text), ("linux-image-6.12.9-amd64", "6.12.9-amd64"))

    def test_predepends_counts_and_the_meta_package_itself_does_not(self):
        text = "linux-image-amd64\n  PreDepends: linux-image-amd64\n  PreDepends: linux-image-6.1.0-9-amd64\n"
        self.assertEqual(dk.image_package(text)[1], "6.1.0-9-amd64")

    def test_no_kernel_named_is_an_error_in_words(self):
        for text in ("", "linux-image-amd64\n  Depends: busybox\n", "N: Unable to locate package\n"):
            with self.assertRaises(dk.KernelError) as caught:
                dk.image_package(text)
            self.assertIn("names no linux-image-RELEASE package", str(caught.exception))


def fake_bzimage(payload: bytes, setup_sects=3, version=0x20F):
    """A bzImage: setup sectors with the boot header, then the protected-mode part holding a
    little code and the payload at payload_offset."""
    setup = bytearray(512 * (setup_sects + 1))
    setup[0x1F1] = setup_sects
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, version)
    struct.pack_into("<II", setup, 0x248, 0x40, len(payload))
    return bytes(setup) + b"\x90" * 0x40 + payload + b"\0" * 16


ELF = b"\x7fELF\x02\x01\x01" + bytes(range(200)) * 50


class BzImageTest(unittest.TestCase):
    def _extract(self, payload):
        with tempfile.TemporaryDirectory() as d:
            image = pathlib.Path(d) / "vmlinuz"
            image.write_bytes(fake_bzimage(payload))
            out = pathlib.Path(d) / "vmlinux"
            elf = dk.extract_vmlinux(image, out)
            self.assertEqual(out.read_bytes(), elf)
            return elf

    def test_xz_payload_with_the_kernel_size_suffix(self):
        payload = lzma.compress(ELF, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)
        self.assertEqual(self._extract(payload + struct.pack("<I", len(ELF))), ELF)

    def test_gzip_payload(self):
        self.assertEqual(self._extract(gzip.compress(ELF) + struct.pack("<I", len(ELF))), ELF)

    def test_wrong_size_suffix_is_refused(self):
        payload = lzma.compress(ELF, format=lzma.FORMAT_XZ) + struct.pack("<I", len(ELF) + 1)
        with self.assertRaises(dk.KernelError):
            self._extract(payload)

    def test_payload_found_and_named(self):
        name, payload = dk.bzimage_payload(fake_bzimage(b"\x28\xb5\x2f\xfdzstd-data"))
        self.assertEqual((name, payload), ("zstd", b"\x28\xb5\x2f\xfdzstd-data"))
        with tempfile.TemporaryDirectory() as d:
            image = pathlib.Path(d) / "vmlinuz"
            image.write_bytes(fake_bzimage(b"\x28\xb5\x2f\xfdzstd-data"))
            with self.assertRaises(dk.KernelError) as caught:
                dk.extract_vmlinux(image)
            self.assertIn("zstd", str(caught.exception))

    def test_not_a_bzimage_and_old_protocols(self):
        with self.assertRaises(dk.KernelError):
            dk.bzimage_payload(b"MZ" + bytes(1000))
        with self.assertRaises(dk.KernelError):
            dk.bzimage_payload(fake_bzimage(b"\xfd7zXZ\x00", version=0x207))


class ModuleTest(unittest.TestCase):
    def test_plain_and_xz_modules(self):
        with tempfile.TemporaryDirectory() as d:
            plain = pathlib.Path(d) / "kvm.ko"
            plain.write_bytes(ELF)
            packed = pathlib.Path(d) / "kvm-intel.ko.xz"
            packed.write_bytes(lzma.compress(ELF, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32))
            self.assertEqual(dk.module_bytes(plain), ELF)
            self.assertEqual(dk.module_bytes(packed), ELF)
            bad = pathlib.Path(d) / "x.ko"
            bad.write_bytes(b"not an elf")
            with self.assertRaises(dk.KernelError):
                dk.module_bytes(bad)

    def test_module_lookup_in_the_tree(self):
        with tempfile.TemporaryDirectory() as d:
            modules = pathlib.Path(d) / "lib/modules/6.1.0-57-amd64"
            (modules / "kernel/arch/x86/kvm").mkdir(parents=True)
            (modules / "kernel/arch/x86/kvm/kvm-intel.ko.xz").write_bytes(b"")
            kernel = dk.DebianKernel("linux-image-6.1.0-57-amd64", "6.1.192-3", "6.1.0-57-amd64",
                                     pathlib.Path(d) / "x.deb", pathlib.Path(d), pathlib.Path(d),
                                     modules)
            self.assertEqual(kernel.module("kvm-intel").name, "kvm-intel.ko.xz")
            with self.assertRaises(dk.KernelError):
                kernel.module("kvm-amd")


class CacheLockTest(unittest.TestCase):
    """`run --linux` builds the Linux image from two threads at once on a fresh build folder:
    without the lock both extracted the kernel package into one folder and the second failed
    (FileExistsError from fetch_package's mkdir)."""

    def held_elsewhere(self, cache):
        if not (pathlib.Path(cache) / ".lock").exists():
            return False
        with open(pathlib.Path(cache) / ".lock", "w") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
            return False

    def test_threads_fill_the_cache_one_at_a_time(self):
        with tempfile.TemporaryDirectory() as tmp:
            inside, most = [0], [0]
            count = threading.Lock()

            def fill():
                with dk.cache_lock(tmp):
                    with count:
                        inside[0] += 1
                        most[0] = max(most[0], inside[0])
                    time.sleep(0.05)
                    with count:
                        inside[0] -= 1

            threads = [threading.Thread(target=fill) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(most[0], 1)
            self.assertFalse(self.held_elsewhere(tmp))  # released after each

    def test_the_linux_image_fetches_under_the_lock(self):
        with tempfile.TemporaryDirectory() as tmp:
            cache = dk.cache_dir(tmp)
            seen = []

            def fetch(c, *_):
                seen.append(self.held_elsewhere(c))
                raise dk.KernelError("stop here")

            saved = dk.fetch
            dk.fetch = fetch
            try:
                with self.assertRaises(dk.KernelError):
                    linux_image.build(tmp)
            finally:
                dk.fetch = saved
            self.assertEqual(seen, [True])
            self.assertFalse(self.held_elsewhere(cache))  # released on the error too


if __name__ == "__main__":
    unittest.main()
