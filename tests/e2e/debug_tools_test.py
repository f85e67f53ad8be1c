#!/usr/bin/env python3
"""Host-only checks of the debugging and QEMU-KVM helpers in tools/metronome_tool: the KVM host
check on fake /proc, /dev and /sys trees, --break parsing, the configuration keys and debugger
commands `metronome debug` generates, transcript parsing, and the Bochs symbol names. No
emulator; a fraction of a second."""
import errno
import pathlib
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))

from metronome_tool import debug_session, kvm_host, qemu, symbols  # noqa: E402

INTEL = ("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme vmx sse2\n\n"
         "processor\t: 1\nvendor_id\t: GenuineIntel\nflags\t\t: fpu\n")
AMD = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 svm\n"


class FakeHost:
    """A root folder with proc/cpuinfo, dev/kvm and kvm_intel's nested parameter."""

    def __init__(self, cpuinfo=INTEL, kvm=True, nested="Y\n"):
        self.dir = tempfile.TemporaryDirectory()
        self.root = pathlib.Path(self.dir.name)
        (self.root / "proc").mkdir()
        if cpuinfo is not None:
            (self.root / "proc/cpuinfo").write_text(cpuinfo)
        (self.root / "dev").mkdir()
        if kvm:
            (self.root / "dev/kvm").write_text("")
        if nested is not None:
            parameter = self.root / kvm_host.NESTED_PARAMETER
            parameter.parent.mkdir(parents=True)
            parameter.write_text(nested)

    def problems(self, open_error=None):
        def open_rw(path):
            if open_error is not None:
                raise OSError(open_error, "Permission denied" if open_error == errno.EACCES
                              else "No such device")
            path.open("r+").close()
        try:
            return kvm_host.problems(self.root, open_rw)
        finally:
            self.dir.cleanup()


class KvmHostTest(unittest.TestCase):
    def test_intel_with_everything_is_fine(self):
        self.assertEqual(FakeHost().problems(), [])
        self.assertEqual(FakeHost(nested="1\n").problems(), [])

    def test_amd_says_so(self):
        found = FakeHost(cpuinfo=AMD, nested=None).problems()
        self.assertEqual(len(found), 2)
        self.assertIn("not Intel (vendor_id AuthenticAMD", found[0])
        self.assertIn("kvm_intel is not loaded", found[1])

    def test_only_the_first_processor_counts(self):
        self.assertEqual(FakeHost(cpuinfo=INTEL.replace(" vmx", "", 1)).problems(),
                         ["the Intel CPU shows no `vmx` flag in /proc/cpuinfo (VMX off in the "
                          "firmware setup, or this host is itself a guest without nested VMX)"])

    def test_missing_or_unusable_dev_kvm(self):
        self.assertEqual(FakeHost(kvm=False).problems(),
                         ["/dev/kvm does not exist (KVM is not loaded: modprobe kvm_intel)"])
        self.assertEqual(FakeHost().problems(open_error=errno.EACCES),
                         ["/dev/kvm cannot be opened read-write: Permission denied (add your "
                          "user to the `kvm` group)"])
        self.assertEqual(FakeHost().problems(open_error=errno.ENODEV),
                         ["/dev/kvm cannot be opened read-write: No such device"])

    def test_nested_off(self):
        found = FakeHost(nested="N\n").problems()
        self.assertEqual(len(found), 1)
        self.assertIn("nested VMX is off", found[0])
        self.assertIn("'N'", found[0])

    def test_unreadable_cpuinfo(self):
        self.assertIn("cannot read /proc/cpuinfo", FakeHost(cpuinfo=None).problems()[0])

    def test_platform_picks_the_accelerator(self):
        self.assertEqual(qemu.accel_for("qemu-kvm"), "kvm")
        self.assertEqual(qemu.accel_for("qemu"), "tcg")
        self.assertEqual(qemu.accel_for("qemu", "kvm"), "kvm")


class WhereTest(unittest.TestCase):
    def test_keywords(self):
        plan = debug_session.parse_where("vmentry")
        self.assertEqual((plan.debug_break, plan.debug_guest, plan.symbol), ("vmentry", "", ""))
        plan = debug_session.parse_where("guest:b-2")
        self.assertEqual((plan.debug_break, plan.debug_guest), ("vmentry", "b-2"))
        self.assertEqual(debug_session.parse_where("vmexit:a").debug_guest, "a")
        self.assertEqual(debug_session.parse_where("start").debug_break, "start")

    def test_symbols(self):
        plan = debug_session.parse_where("vmx::run_guests")
        self.assertEqual((plan.debug_break, plan.symbol), ("start", "vmx::run_guests"))

    def test_mistakes(self):
        for where in ("guest:a.b", "vmentry:" + "x" * 32, "", 'a"b', "two words"):
            with self.assertRaises(ValueError, msg=where):
                debug_session.parse_where(where)


class ConfigKeysTest(unittest.TestCase):
    def test_keys_go_before_the_first_section(self):
        text = debug_session.with_debug_keys("duration_ms = 5\n[guest a]\nimage = spin\n",
                                             debug_session.parse_where("guest:a"))
        self.assertEqual(text, "duration_ms = 5\ndebug_break = vmentry\ndebug_guest = a\n"
                               "[guest a]\nimage = spin\n")

    def test_guest_names_are_checked_before_booting(self):
        text = "slice_us = 10\n[guest a]\nimage = spin\n[ guest b-2 ] # x\nimage = spin\n"
        def problem(where, config=text):
            return debug_session.config_problem(config, debug_session.parse_where(where))
        self.assertIsNone(problem("guest:b-2"))
        self.assertIsNone(problem("vmentry"))
        self.assertEqual(problem("vmexit:c"),
                         "--break vmexit:c: no guest named 'c' in the configuration "
                         "(guests: a, b-2)")
        self.assertIn("has no [guest NAME]", problem("vmentry", "on_finish = shutdown\n"))
        self.assertIsNone(problem("start", ""))

    def test_existing_keys_become_comments(self):
        text = debug_session.with_debug_keys("debug_break = start # mine\nslice_us = 10",
                                             debug_session.parse_where("vmentry"))
        self.assertEqual(text, "# (replaced by tools/metronome debug) debug_break = start # mine\n"
                               "slice_us = 10\ndebug_break = vmentry\n")


class PrologueTest(unittest.TestCase):
    def rc(self, where):
        return debug_session.prologue(debug_session.parse_where(where), 0x4CAE, 0x5D)

    def test_every_session_loads_symbols_at_the_first_stop(self):
        self.assertEqual(self.rc("start"), [
            "c", 'ldsym global "metronome.sym" rip - 0x4cae', 'ldsym global "guest.sym" 0',
            "? rip - 0x4cae"])

    def test_vmentry_stops_on_vmlaunch(self):
        self.assertEqual(self.rc("vmentry")[4:], [
            "c", 'ldsym global "vmcs.sym" rsi', '? "vmcs"', 'lb "metronome_vm_enter" + 0x5d',
            "c", "d 1"])
        self.assertEqual(self.rc("guest:b")[-1], "s")

    def test_vmexit_and_symbols(self):
        self.assertEqual(self.rc("vmexit")[-2:], ['lb "metronome_vm_exit"', "c"])
        self.assertEqual(self.rc("vmx::run_guests")[4:], ['lb "vmx::run_guests"', "c"])

    def test_bochs_vmcs_layout(self):
        # The offsets measured in tools/PLATFORMS.md.
        self.assertEqual(debug_session.vmcs_offset(debug_session.EXIT_REASON_FIELD), 0x918)
        self.assertEqual(debug_session.vmcs_offset(debug_session.GUEST_RIP_FIELD), 0xE88)


TRANSCRIPT = """Next at t=0
c
(0) Magic breakpoint
Next at t=709932948
(0) [0x00000e048cae] 0038:000000000e048cae (unk. ctxt): ret                       ; c3
? rip - 0x4cae
0xe044000 235159552
s
Next at t=739172547
(0) [0x00000dc54000] 0008:0000000000010000 (guest._start+0): cli                       ; fa
r
CPU0:
rsi: 00000000_000f4240
rip: 00000000_00010000
u /2 rip
0000000000010000: (      guest._start+0): cli                       ; fa
0000000000010002: (      guest._start+2): mov r12, rdi              ; 4989fc
xp /1wx "vmcs" + 0x918
[bochs]:
0x000000000e1e4918 <bogus+       0>:\t0x00000012
"""


class TranscriptTest(unittest.TestCase):
    def test_replies(self):
        replies = debug_session.split_transcript(
            TRANSCRIPT, ["c", "? rip - 0x4cae", "# a comment", "s", "r", "u /2 rip",
                         'xp /1wx "vmcs" + 0x918'])
        self.assertEqual([r.command for r in replies],
                         ["", "c", "? rip - 0x4cae", "s", "r", "u /2 rip",
                          'xp /1wx "vmcs" + 0x918'])
        self.assertEqual(replies[1].locations()[0].linear, 0xE048CAE)
        self.assertEqual(replies[2].value(), 0xE044000)
        step = replies[3].locations()[0]
        self.assertEqual((step.physical, step.linear, step.symbol, step.mnemonic, step.bytes_hex),
                         (0xDC54000, 0x10000, "guest._start+0", "cli", "fa"))
        self.assertEqual(replies[4].registers(), {"rsi": 1_000_000, "rip": 0x10000})
        listing = replies[5].disassembly()
        self.assertEqual([(d.linear, d.symbol, d.text, d.bytes_hex) for d in listing],
                         [(0x10000, "guest._start+0", "cli", "fa"),
                          (0x10002, "guest._start+2", "mov r12, rdi", "4989fc")])
        self.assertEqual(replies[6].memory(), [0x12])


class SymbolNamesTest(unittest.TestCase):
    def test_short_names(self):
        self.assertEqual(symbols.short_name(
            "vmx::hw::(anonymous namespace)::load_msrs(vmx::hw::HwGuest const&, bool)"),
            "vmx::hw::{anon}::load_msrs")
        self.assertEqual(symbols.short_name("vmx::FixedText<200ul>::str(char const*)"),
                         "vmx::FixedText<200ul>::str")
        self.assertEqual(symbols.short_name("vmx::Text::operator()(int)"),
                         "vmx::Text::operator()")
        self.assertEqual(symbols.short_name("metronome_vm_exit"), "metronome_vm_exit")

    def test_one_unique_name_per_address(self):
        entries = symbols.parse_nm(
            "0000000000010000 T __image_start\n0000000000010000 T _start\n"
            "0000000000010040 t _Z1fi\n0000000000010050 t _Z1fv\n"
            "0000000000000000 A absolute\n                 U undefined\n")
        rows = symbols.table(entries, {"_Z1fi": "f(int)", "_Z1fv": "f()"}, "guest.")
        self.assertEqual(rows, [(0x10000, "guest._start"), (0x10040, "guest.f"),
                                (0x10050, "guest._Z1fv")])


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=1)
