#!/usr/bin/env python3
"""Host-only checks of tools/metronome_tool's pure parts: configuration rewriting, serial-log
parsing, capability files. No emulator; runs in a fraction of a second."""
import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))

import tempfile  # noqa: E402

from metronome_tool import caps_file, config, cpu_models, diagnose, elf_pack, emulator, report, serial_log  # noqa: E402


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



class ConsolePieceTest(unittest.TestCase):
    """An interactive guest's unfinished lines come as `[name]+ text` pieces (console_input)."""

    def test_pieces_join_the_line_that_ends_them(self):
        joiner, out = serial_log.PieceJoiner(), []
        for line in ["[sh]+ / # ", "[b] x", "[sh]+ ec", "[sh] ho", "[b] y"]:
            out += joiner.feed(line)
        self.assertEqual(out, ["[b] x", "[sh] / # echo", "[b] y"])
        self.assertEqual(joiner.flush(), [])

    def test_a_piece_left_open_comes_out_at_the_end(self):
        self.assertEqual(serial_log.split_lines(b"[a]+ p\nz\n[a]+ q"), ["z", "[a] pq"])
        self.assertEqual(serial_log.split_lines(b"[a]+ p\n[a]+ q\n"), ["[a] pq"])

    def test_global_key_goes_first(self):
        self.assertEqual(config.with_global("[guest a]\n", "console_input", "a"), "console_input = a\n[guest a]\n")

class MemoryMegsTest(unittest.TestCase):
    @staticmethod
    def guests(n, keys=""):
        return "".join(f"[guest g{i}]  # guest {i}\nimage = spin\n{keys}" for i in range(n))

    def test_small_configurations_keep_the_benchmarks_machine(self):
        self.assertEqual(config.memory_megs(config.DEFAULT_CONFIG), 256)
        # Bochs' processors: one more than the highest `cpu`, a global one inherited.
        self.assertEqual(config.cpus_needed(self.guests(4)), 1)
        self.assertEqual(config.cpus_needed(self.guests(2) + "[guest z]\nimage = spin\ncpu = 3\n"), 4)
        self.assertEqual(config.cpus_needed("cpu = 1\n" + self.guests(2)), 2)
        self.assertEqual(config.memory_megs(self.guests(64)), 256)  # 64 x 2 MiB + 64 fit in 256

    def test_256_guests_get_room_for_their_memory(self):
        # 64 + 256 x (2 + 1/8) = 608 MiB, in steps of 64
        self.assertEqual(config.memory_megs(self.guests(256)), 640)

    def test_memory_mib_global_and_per_guest(self):
        self.assertEqual(config.memory_megs("memory_mib = 128\n" + self.guests(4)), 640)  # 64 + 4 x 128.125
        self.assertEqual(config.memory_megs(self.guests(4, "memory_mib = 128 # big\n")), 640)
        self.assertEqual(config.memory_megs("memory_mib = 128\n" + self.guests(4, "memory_mib = 2\n")), 256)
        self.assertEqual(config.memory_megs(self.guests(256, "memory_mib = 256\n")), config.MAX_MEGS)


def tiny_elf(segments, note_in=None):
    """An ELF64 with PT_LOAD segments [(vaddr, bytes, memsz)] at 2 MiB-aligned offsets, section
    headers claimed, and a PT_NOTE inside segment `note_in` (its first 8 bytes)."""
    import struct
    phnum = len(segments) + (note_in is not None)
    offsets, at = [], 0x200000
    for _, data, _ in segments:
        offsets.append(at)
        at += (len(data) + 0x1fffff) // 0x200000 * 0x200000
    out = bytearray(at)
    ident = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    struct.pack_into("<16sHHIQQQIHHHHHH", out, 0, ident, 2, 62, 1, segments[0][0], 64, 0x1234, 0, 64, 56,
                     phnum, 64, 9, 8)
    for i, (vaddr, data, memsz) in enumerate(segments):
        struct.pack_into("<IIQQQQQQ", out, 64 + 56 * i, 1, 5, offsets[i], vaddr, vaddr, len(data), memsz,
                         0x200000)
        out[offsets[i]:offsets[i] + len(data)] = data
    if note_in is not None:
        struct.pack_into("<IIQQQQQQ", out, 64 + 56 * len(segments), 4, 4, offsets[note_in],
                         segments[note_in][0], segments[note_in][0], 8, 8, 4)
    return bytes(out)


def segments_in_memory(data):
    """{vaddr: the memsz bytes a loader puts there} and the PT_NOTE's bytes, read from the file."""
    import struct
    phoff, phnum = struct.unpack_from("<Q", data, 0x20)[0], struct.unpack_from("<H", data, 0x38)[0]
    memory, note = {}, None
    for i in range(phnum):
        typ, _, off, vaddr, _, filesz, memsz, _ = struct.unpack_from("<IIQQQQQQ", data, phoff + 56 * i)
        if typ == 1:
            memory[vaddr] = data[off:off + filesz] + b"\0" * (memsz - filesz)
        elif typ == 4:
            note = data[off:off + filesz]
    return memory, note


class ReportPerCpuTest(unittest.TestCase):
    """The tool's reading of a report whose guests ran on two CPUs: books per CPU, a table that says
    where each guest ran."""

    @staticmethod
    def two_cpus(cpu1_switching=10):
        def guest(name, cpu, allotted):
            return {"name": name, "image": "spin", "cpu": cpu, "slices": 1, "allotted_ticks": allotted,
                    "ran_ticks": allotted, "halted_ticks": None, "halted_observable": False,
                    "hypervisor_ticks": 0, "share_ppm": 500000, "exits": {}, "progress": 0,
                    "state": "running", "exit_reason": None}

        def run(cpu, switching):
            return {"cpu": cpu, "duration_ticks": 1000, "duration_us": 1, "idle_ticks": 0,
                    "switching_ticks": switching, "totals_add_up": True, "protocol_errors": 0}
        cpus = [run(0, 10), run(1, cpu1_switching)]
        return {**cpus[0], "cpus": cpus, "tsc_hz": 1000000000, "tsc_source": "configured",
                "config": {"policy": "fixed", "slice_us": 1000},
                "guests": [guest("a", 0, 495), guest("b", 1, 495), guest("c", 0, 495), guest("d", 1, 495)]}

    def test_books_balance_per_cpu(self):
        self.assertEqual(report.totals_problems(self.two_cpus()), [])
        self.assertEqual(report.totals_problems(self.two_cpus(cpu1_switching=11)),
                         ["CPU 1: sum of allotted 990 + idle 0 + switching 11 = 1001 != run length 1000"])

    def test_table_has_a_cpu_column_and_a_run_line_per_cpu(self):
        lines = report.table(self.two_cpus()).splitlines()
        self.assertIn(" cpu ", lines[0])
        self.assertEqual([line.split()[2] for line in lines[1:5]], ["0", "1", "0", "1"])
        self.assertTrue(lines[5].startswith("CPU 0: run ") and lines[6].startswith("CPU 1: run "))


class ElfPackTest(unittest.TestCase):
    def test_the_memory_image_is_the_same_and_the_file_shorter(self):
        text = b"\x90" * 5000 + b"NOTE1234" + b"\xcc" * 3
        bss_like = b"data" + b"\0" * 300000  # stored zeros, as vmlinux stores .bss
        original = tiny_elf([(0xffffffff81000000, text, len(text)), (0xffffffff82000000, bss_like, 400000)],
                            note_in=0)
        packed = elf_pack.pack(original)
        self.assertLess(len(packed), 20000)
        self.assertEqual(segments_in_memory(packed), segments_in_memory(original))
        self.assertEqual(packed[:0x18], original[:0x18])                 # ident, type, machine, entry
        self.assertEqual(packed[0x28:0x30], b"\0" * 8)                   # no section headers

    def test_not_an_elf64(self):
        with self.assertRaises(ValueError):
            elf_pack.pack(b"MZ" + b"\0" * 100)


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


def testdata():
    return pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else \
        pathlib.Path(__file__).resolve().parents[1] / "data"


class CapsFileTest(unittest.TestCase):
    def test_bochs_file(self):
        values = caps_file.load(testdata() / "vmx-caps" / "bochs-2.7-corei7_skylake_x.txt")
        self.assertEqual(values["IA32_VMX_BASIC"], 0x00D810000000002B)
        self.assertEqual(len(values), 17)

    def test_written_file_reads_back_and_names_its_source(self):
        caps = {"brand": "Some CPU", "cpuid_15h": None,
                "msrs": {"IA32_VMX_BASIC": "0x00d810000000002b", "IA32_VMX_MISC": "0x1e0"}}
        text = caps_file.text_for(caps, "corei7_haswell_4770", 50_000_000)
        self.assertTrue(text.startswith("# source: read with rdmsr by metronome.efi on Bochs 2.7"))
        with tempfile.TemporaryDirectory() as d:
            path = pathlib.Path(d) / "x.txt"
            caps_file.write(path, caps, "corei7_haswell_4770", 50_000_000)
            self.assertEqual(caps_file.load(path),
                             {"IA32_VMX_BASIC": 0x00D810000000002B, "IA32_VMX_MISC": 0x1E0})

    def test_every_model_with_vmx_has_its_file_in_the_testdata(self):
        for model in cpu_models.MODELS:
            path = testdata() / model.caps_file
            self.assertEqual(path.exists(), model.has_vmx, model.name)


def fake_run(lines, platform="qemu", timed_out=False, exit_status=0, output="", log=""):
    work = pathlib.Path(tempfile.mkdtemp())
    (work / f"{platform}.out").write_text(output)
    (work / "bochs.log").write_text(log)
    return emulator.RunResult(platform=platform, lines=lines, ended=serial_log.ended(lines),
                              timed_out=timed_out, exit_status=exit_status, wall_seconds=12.0,
                              work_dir=work, serial_path=work / "serial.txt",
                              output_path=work / f"{platform}.out")


class DiagnoseTest(unittest.TestCase):
    def test_no_vmx_says_what_would_run_it(self):
        words = diagnose.explain(fake_run(['METRONOME-CAPS {"vmx": false, "can_run": false}',
                                           "METRONOME-END"]))
        self.assertTrue(words.startswith("qemu: the CPU has no VMX"), words)
        self.assertIn("--platform qemu-kvm", words)

    def test_refused_cpu_names_what_it_lacks(self):
        words = diagnose.explain(fake_run(
            ['METRONOME-CAPS {"vmx": true, "can_run": false, "lacks": ["ept"]}',
             "METRONOME-ERROR this CPU cannot run Metronome: it lacks EPT", "METRONOME-END"],
            platform="bochs"))
        self.assertEqual(words, "bochs: the CPU lacks ept: Metronome cannot run on it")

    def test_an_error_line_is_the_reason(self):
        words = diagnose.explain(fake_run(['METRONOME-CAPS {"vmx": true, "can_run": true}',
                                           "METRONOME-ERROR guest a: image \\x: not found",
                                           "METRONOME-END"], platform="bochs"))
        self.assertEqual(words, "bochs: metronome.efi stopped with an error: guest a: image "
                                "\\x: not found")

    def test_a_cpu_without_long_mode_is_recognised_in_bochs_log(self):
        words = diagnose.explain(fake_run([], platform="bochs", exit_status=1,
                                          log="e[CPU0  ] RDMSR MSR_EFER: EFER MSR is not supported !"))
        self.assertIn("no long mode", words)

    def test_timeout_and_silence(self):
        words = diagnose.explain(fake_run(["Metronome 0.1", "metronome: running guests"],
                                          platform="bochs", timed_out=True, exit_status=None))
        self.assertEqual(words, "bochs: no report within the time limit (12 s); the last line it "
                                "printed: 'metronome: running guests'")
        self.assertEqual(diagnose.explain(fake_run([], exit_status=3)),
                         "qemu exited with status 3 before metronome.efi printed anything")


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=1)
