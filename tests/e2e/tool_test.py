#!/usr/bin/env python3
"""Host-only checks of tools/metronome_tool's pure parts: configuration rewriting, serial-log
parsing, capability files. No emulator; runs in a fraction of a second."""
import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))

from metronome_tool import caps_file, config, serial_log  # noqa: E402


class ConfigTest(unittest.TestCase):
    def test_default_config_ends_the_run(self):
        self.assertIn("on_finish = shutdown", config.DEFAULT_CONFIG)

    def test_on_finish_goes_before_the_first_section(self):
        text, note = config.ensure_run_ends("duration_ms = 10\n[guest a]\nimage = spin\n")
        self.assertEqual(text, "duration_ms = 10\non_finish = shutdown\n[guest a]\nimage = spin\n")
        self.assertIn("line 2", note)

    def test_file_without_sections_or_final_newline(self):
        text, _ = config.ensure_run_ends("slice_us = 500")
        self.assertEqual(text, "slice_us = 500\non_finish = shutdown\n")

    def test_explicit_on_finish_is_kept(self):
        original = "on_finish = return_to_firmware # mine\n[guest a]\nimage = spin\n"
        self.assertEqual(config.ensure_run_ends(original), (original, None))

    def test_commented_on_finish_does_not_count(self):
        text, _ = config.ensure_run_ends("# on_finish = return_to_firmware\n")
        self.assertTrue(text.endswith("on_finish = shutdown\n"))


class SerialLogTest(unittest.TestCase):
    def test_lines_arrive_in_pieces_and_lose_escapes_and_cr(self):
        splitter = serial_log.LineSplitter()
        self.assertEqual(splitter.feed(b"\x1b[2J\x1b[01;01HBds: x\r\nMETRO"), ["Bds: x"])
        self.assertEqual(splitter.feed(b"NOME-END\r\n"), ["METRONOME-END"])
        self.assertEqual(splitter.feed(b"tail"), [])
        self.assertEqual(splitter.flush(), ["tail"])

    def test_json_line_and_end(self):
        lines = serial_log.split_lines(b'x\r\nMETRONOME-CAPS {"vmx": true}\r\nMETRONOME-END\r\n')
        self.assertEqual(serial_log.json_line(lines, serial_log.CAPS_MARKER), {"vmx": True})
        self.assertIsNone(serial_log.json_line(lines, serial_log.REPORT_MARKER))
        self.assertTrue(serial_log.ended(lines))
        self.assertFalse(serial_log.ended(lines[:-1]))

    def test_broken_json_is_an_error_not_a_missing_line(self):
        with self.assertRaises(ValueError):
            serial_log.json_line(['METRONOME-CAPS {"vmx": tr'], serial_log.CAPS_MARKER)

    def test_invalid_utf8_does_not_stop_parsing(self):
        self.assertEqual(serial_log.split_lines(b"a\xff\nb\n"), ["a\ufffd", "b"])


class CapsFileTest(unittest.TestCase):
    def test_bochs_file(self):
        testdata = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else None
        if testdata is None:
            self.skipTest("no testdata folder given")
        values = caps_file.load(testdata / "vmx-caps" / "bochs-2.7-corei7_skylake_x.txt")
        self.assertEqual(values["IA32_VMX_BASIC"], 0x00D810000000002B)
        self.assertEqual(len(values), 17)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=1)
