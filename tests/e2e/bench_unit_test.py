#!/usr/bin/env python3
"""Host-only checks of the benchmark's pure parts (tools/metronome_tool/bench.py): the suite's
configurations, the figures computed from made-up reports, target verdicts and margins, the
table and the line counter. No emulator; runs in a fraction of a second."""
import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))

from metronome_tool import bench  # noqa: E402


def guest(name, slices=10, slice_mean=1000, slice_min=990, slice_max=1010, configured=1000,
          hv=0, root=None, exit_reason=None):
    return {"name": name, "image": "spin", "slices": slices, "exit_reason": exit_reason,
            "slice_ticks": {"count": slices, "min": slice_min, "mean": slice_mean, "max": slice_max},
            "slice_configured_ticks": configured, "hypervisor_ticks": hv,
            "root_ticks_by_exit": root or {}}


def report(guests, switching=0, duration=100_000):
    return {"guests": guests, "switching_ticks": switching, "duration_ticks": duration}


class SuiteTest(unittest.TestCase):
    def test_every_run_is_a_bochs_run_at_one_tick_per_nanosecond(self):
        runs = bench.runs()
        self.assertIn("vmexit", runs)
        for n in bench.SWITCH_GUESTS:
            self.assertIn(bench.switch_name(n), runs)
        for text in runs.values():
            self.assertIn("tsc_hz = 1000000000", text)
            self.assertIn("on_finish = shutdown", text)
        self.assertEqual(runs["switch-64"].count("[guest "), 64)
        self.assertEqual(bench.SWITCH_GUESTS[-1], 256)  # vmx::max_guests, read from its header
        self.assertEqual(runs["switch-256"].count("[guest "), 256)
        # Every guest of a switch run gets at least 10 slices of 100 us; never under 50 ms.
        self.assertIn("duration_ms = 256\n", runs["switch-256"])
        self.assertIn("duration_ms = 64\n", runs["switch-64"])
        self.assertIn("duration_ms = 50\n", runs["switch-2"])
        self.assertEqual(len(runs), 1 + 4 + 9 + 1)  # the 4-guest switch run is an accuracy run
        scale = runs[bench.SCALE_NAME]  # 4 CPUs x 16 guests, each CPU's guests on it
        self.assertEqual(scale.count("[guest "), bench.SCALE_CPUS * bench.SCALE_GUESTS)
        for c in range(bench.SCALE_CPUS):
            self.assertEqual(scale.count(f"cpu = {c}\n"), bench.SCALE_GUESTS)


class FigureTest(unittest.TestCase):
    def test_round_trip_subtracts_the_native_loop(self):
        lines = ["[v] vmexit: nop n=1000 reps=8 best=5000 worst=5000",
                 "[v] vmexit: cpuid n=1000 reps=8 best=205000 worst=300000",
                 "[v] vmexit: rdmsr n=1000 reps=8 best=109000 worst=109000",
                 "[v] vmexit: gp_native n=1000 reps=8 best=9000 worst=9000"]
        trips = bench.round_trips(bench.vmexit_loops(lines))
        self.assertEqual(trips["cpuid"]["ticks"], 200.0)
        self.assertEqual(trips["rdmsr"]["ticks"], 100.0)
        self.assertNotIn("vmcall", trips)

    def test_root_ticks_merge_guests_weighted_by_count(self):
        r = report([guest("a", root={"cpuid": {"count": 1, "min": 100, "mean": 100, "max": 100}}),
                    guest("b", root={"cpuid": {"count": 3, "min": 200, "mean": 200, "max": 300}})])
        self.assertEqual(bench.root_ticks(r, "cpuid"), {"count": 4, "min": 100, "mean": 175.0, "max": 300})
        self.assertIsNone(bench.root_ticks(r, "vmcall"))

    def test_switch_cost_error_and_overhead(self):
        r = report([guest("a", slices=10, hv=50), guest("b", slices=30, slice_min=1000,
                                                          slice_mean=1002, slice_max=1020)],
                   switching=4000, duration=200_000)
        self.assertEqual(bench.switch_cost(r), 100.0)
        self.assertEqual(bench.slice_error(r), {"min": -10, "mean": 1.5, "max": 20, "slices": 40})
        self.assertEqual(bench.overhead_percent(r), 2.025)

    def test_missing_runs_give_no_value_and_miss_their_targets(self):
        figs = bench.figures({}, {"efi_bytes": 1, "loc": {"total": 2, "pure": 1, "hw": 1}})
        cpuid = next(f for f in figs if f["figure"] == "cpuid round trip")
        self.assertIsNone(cpuid["value"])
        self.assertFalse(cpuid["met"])
        self.assertEqual(bench.verdict(cpuid), "MISSED")

    def test_switch_targets_and_flatness(self):
        results = {}
        for n, cost in zip(bench.SWITCH_GUESTS, (300, 310, 320, 330, 500)):
            g = [guest(f"g{i}", slices=10) for i in range(n)]
            results[bench.switch_name(n)] = {"report": report(g, switching=cost * 10 * n)}
        figs = {f["figure"]: f for f in bench.figures(results, {})}
        self.assertTrue(figs["slice switch, 2 guests"]["met"])  # the target: <= 300 with 2 guests
        self.assertIsNone(figs["slice switch, 64 guests"]["met"])
        self.assertEqual(figs["slice switch, 256 guests"]["value"], 500.0)
        growth = figs["slice switch growth, 2 -> 256 guests"]
        self.assertEqual(growth["value"], 66.7)
        self.assertFalse(growth["met"])
        self.assertTrue(figs["guests on one CPU (2 MiB each, 640 MiB machine)"]["met"])
        results[bench.switch_name(2)] = {"report": report([guest("a", slices=10)] * 2, switching=301 * 20)}
        figs = {f["figure"]: f for f in bench.figures(results, {})}
        self.assertEqual(figs["slice switch, 2 guests"]["margin"], "missed by 1 instr")

    def test_each_cpus_switch_against_one_cpu(self):
        one = [guest(f"g{i}", slices=10) for i in range(bench.SCALE_GUESTS)]
        results = {bench.switch_name(bench.SCALE_GUESTS): {"report": report(one, switching=400 * 10 * 16)}}
        guests = [{**guest(f"c{c}g{i}", slices=10), "cpu": c}
                  for c in range(bench.SCALE_CPUS) for i in range(bench.SCALE_GUESTS)]
        cpus = [{"cpu": c, "switching_ticks": (400 + c * 5) * 10 * 16} for c in range(bench.SCALE_CPUS)]
        results[bench.SCALE_NAME] = {"report": {**report(guests, switching=0), "cpus": cpus}}
        fig = {f["figure"]: f for f in bench.figures(results, {})}["slice switch per CPU, 4 CPUs x 16 guests"]
        self.assertEqual(fig["value"], 415.0)  # the most of any CPU: CPU 3's
        self.assertTrue(fig["met"])            # 3.75% over one CPU's 400
        cpus[3]["switching_ticks"] = 421 * 10 * 16
        fig = {f["figure"]: f for f in bench.figures(results, {})}["slice switch per CPU, 4 CPUs x 16 guests"]
        self.assertFalse(fig["met"])           # 5.25%

    def test_accuracy_and_overhead_targets(self):
        results = {}
        for nb, lo, hi in (("spin", -300, 0), ("idle", -301, 0), ("exitstorm", -10, 300)):
            g = [guest("a", slices=10, slice_min=1_000_000 + lo, slice_mean=1_000_000, slice_max=1_000_000 + hi,
                       configured=1_000_000, hv=30)] * 4
            results[bench.accuracy_name(1000, nb)] = {"report": report(g, switching=0, duration=400_000)}
        figs = {f["figure"]: f for f in bench.figures(results, {})}
        self.assertTrue(figs["slice error, 1000 us, spin neighbours"]["met"])
        self.assertFalse(figs["slice error, 1000 us, idle neighbours"]["met"])  # |-301| > 300
        self.assertTrue(figs["slice error, 1000 us, exitstorm neighbours"]["met"])
        share = figs["root-mode share, 1000 us, spin neighbours"]
        self.assertEqual(share["value"], 0.03)  # 4 x 30 / 400,000
        self.assertTrue(share["met"])  # <= 0.03

    def test_table_and_markdown_carry_every_figure(self):
        figs = bench.figures({}, {"efi_bytes": 123456, "loc": {"total": 9, "pure": 5, "hw": 4}})
        text = bench.table(figs)
        md = bench.markdown(figs)
        for f in figs:
            self.assertIn(f["figure"], text)
            self.assertIn(f["figure"], md)
        self.assertIn("123,456", text)
        self.assertIn("`tools/metronome bench --only vmexit`", md)
        # Every row has the header's six cells: a "|" inside a cell is escaped.
        for row in md.splitlines():
            self.assertEqual(row.replace("\\|", "").count("|"), 7, row)


class LinesOfCodeTest(unittest.TestCase):
    def test_comments_and_blank_lines_do_not_count(self):
        text = ("// header\n\n#include <x>\nint a; // trailing\n/* block\n still */\n"
                "int b; /* inline */ int c;\n    /* one line */\n")
        self.assertEqual(bench.count_code_lines(text), 3)


if __name__ == "__main__":
    unittest.main()
