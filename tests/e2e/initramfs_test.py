#!/usr/bin/env python3
"""Host-only checks of the initramfs writer (tools/metronome_tool/initramfs.py): the newc
records byte by byte, parents added before children, refusals, and, where cpio(1) is
installed, that cpio lists what was written. No emulator, no root."""
import pathlib
import shutil
import stat
import subprocess
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))

from metronome_tool import initramfs  # noqa: E402


def sample():
    return [initramfs.device("dev/console", "c", 5, 1),
            initramfs.file("init", "#!/bin/sh\necho hi\n", 0o755),
            initramfs.file("bin/busybox", b"\x7fELF" + bytes(range(7)), 0o755),
            initramfs.symlink("bin/sh", "busybox"),
            initramfs.directory("proc")]


class RecordTest(unittest.TestCase):
    def test_header_fields_and_four_byte_alignment(self):
        archive = initramfs.build([initramfs.file("a", b"xyz", 0o640)])
        self.assertEqual(archive[:6], b"070701")
        fields = [int(archive[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        ino, mode, uid, gid, nlink, mtime, size = fields[:7]
        self.assertEqual((mode, uid, gid, nlink, mtime, size), (stat.S_IFREG | 0o640, 0, 0, 1, 0, 3))
        self.assertEqual(fields[11], 2)   # "a" and its NUL
        self.assertEqual(archive[110:112], b"a\0")
        # 110 + 2 = 112 is aligned: the data follows at once, padded to 116.
        self.assertEqual(archive[112:116], b"xyz\0")
        self.assertEqual(len(archive) % 4, 0)
        self.assertTrue(archive.rstrip(b"\0").endswith(b"TRAILER!!!"))

    def test_round_trip_keeps_kinds_modes_data_and_devices(self):
        entries = initramfs.parse(initramfs.build(sample()))
        by = {e.path: e for e in entries}
        self.assertEqual(by["dev/console"].mode, stat.S_IFCHR | 0o600)
        self.assertEqual(by["dev/console"].rdev, (5, 1))
        self.assertEqual(by["init"].data, b"#!/bin/sh\necho hi\n")
        self.assertEqual(stat.S_IMODE(by["init"].mode), 0o755)
        self.assertEqual(by["bin/sh"].mode, stat.S_IFLNK | 0o777)
        self.assertEqual(by["bin/sh"].data, b"busybox")
        self.assertTrue(stat.S_ISDIR(by["proc"].mode))

    def test_same_entries_same_bytes(self):
        self.assertEqual(initramfs.build(sample()), initramfs.build(sample()))


class ParentTest(unittest.TestCase):
    def test_missing_parents_come_first_once(self):
        paths = [e.path for e in initramfs.parse(initramfs.build(sample()))]
        self.assertLess(paths.index("dev"), paths.index("dev/console"))
        self.assertLess(paths.index("bin"), paths.index("bin/busybox"))
        self.assertEqual(paths.count("bin"), 1)

    def test_given_folder_is_not_added_again(self):
        entries = initramfs.with_parents([initramfs.directory("lib", 0o700),
                                          initramfs.file("lib/x", b"")])
        self.assertEqual([e.path for e in entries], ["lib", "lib/x"])
        self.assertEqual(stat.S_IMODE(entries[0].mode), 0o700)


class RefusalTest(unittest.TestCase):
    def test_bad_paths_kinds_and_duplicates(self):
        for bad in ("", "/", "a/../b", "a//b", "./a"):
            with self.assertRaises(initramfs.InitramfsError, msg=bad):
                initramfs.file(bad, b"")
        with self.assertRaises(initramfs.InitramfsError):
            initramfs.device("dev/x", "p", 1, 1)
        with self.assertRaises(initramfs.InitramfsError):
            initramfs.symlink("bin/sh", "")
        with self.assertRaises(initramfs.InitramfsError):
            initramfs.build([initramfs.file("a", b""), initramfs.file("a", b"")])
        with self.assertRaises(initramfs.InitramfsError):
            initramfs.build([initramfs.file("a", b""), initramfs.file("a/b", b"")])


@unittest.skipUnless(shutil.which("cpio"), "cpio(1) is not installed")
class CpioToolTest(unittest.TestCase):
    def test_cpio_lists_every_entry(self):
        listing = subprocess.run(["cpio", "-it", "--quiet"], input=initramfs.build(sample()),
                                 capture_output=True, check=True).stdout.decode().split()
        self.assertEqual(sorted(listing), sorted(e.path for e in initramfs.with_parents(sample())))


if __name__ == "__main__":
    unittest.main()
