#!/usr/bin/env python3
"""Host-only checks of the built kvm-peer (tools/peer/): it is a static program (the initramfs
has no shared libraries), its guest code fits the space the VMs reserve for it, and bad
arguments are refused in words before /dev/kvm is touched (this host's /dev/kvm cannot run
guests: every real run happens in Bochs, `tools/metronome peer kvm`).

Usage: kvm_peer_program_test.py --kvm-peer BUILD/peer/kvm-peer"""
import argparse
import pathlib
import re
import struct
import subprocess
import sys
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
KVM_PEER = None


def run(*args):
    return subprocess.run([str(KVM_PEER), *args], capture_output=True, text=True, timeout=30)


def program_header_types(path):
    data = pathlib.Path(path).read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2, "not a 64-bit ELF file"
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]


class ProgramTest(unittest.TestCase):
    def test_static_no_interpreter(self):
        PT_INTERP = 3
        self.assertNotIn(PT_INTERP, program_header_types(KVM_PEER))

    def test_guest_code_fits_its_reserved_space(self):
        layout = (ROOT / "tools/peer/guest_layout.h").read_text()
        reserved = int(re.search(r"#define GUEST_CODE_MAX (0x[0-9A-Fa-f]+)", layout).group(1), 16)
        symbols = dict(line.split()[2:3] + line.split()[0:1] for line in
                       subprocess.run(["nm", str(KVM_PEER)], capture_output=True, text=True,
                                      check=True).stdout.splitlines() if len(line.split()) == 3)
        size = int(symbols["peer_guest_end"], 16) - int(symbols["peer_guest_start"], 16)
        self.assertGreater(size, 0)
        self.assertLessEqual(size, reserved)

    def test_usage(self):
        r = run()
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage: kvm-peer vmexit", r.stderr)

    def test_bad_vms_are_refused_in_words(self):
        cases = {("a:bogus",): "unknown workload",
                 ("a:idle",): "needs hz=1..10000",
                 ("a:spin:cap=0/10000",): "cap=QUOTA_US/PERIOD_US",
                 ("a:spin:colour=red",): "unknown key or value",
                 ("a b:spin",): "bad name",
                 ("a:bursty:hz=100:percent=101",): "percent is at most 100"}
        for vms, words in cases.items():
            r = run("share", "--label", "t", "--window-ms", "10", *vms)
            self.assertEqual(r.returncode, 1, vms)
            self.assertIn("PEER-KVM-ERROR", r.stderr, vms)
            self.assertIn(words, r.stderr, vms)

    def test_bad_options_are_refused(self):
        r = run("share", "--label", "t", "--window-ms", "0", "a:spin")
        self.assertIn("--window-ms MS > 0", r.stderr)
        r = run("share", "--label", "x" * 40, "a:spin")
        self.assertIn("at most 32 characters", r.stderr)
        r = run("vmexit", "--iterations", "0")
        self.assertEqual(r.returncode, 1)
        self.assertIn("at least 1", r.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--kvm-peer", required=True, type=pathlib.Path)
    args, rest = parser.parse_known_args()
    KVM_PEER = args.kvm_peer.resolve()
    unittest.main(argv=[sys.argv[0]] + rest)
