#!/usr/bin/env python3
"""The experiments' checks and table (tools/metronome_tool/experiments*.py) on made-up reports:
no emulator, well under a second. A check that passes a bad run is worse than none."""
import sys
import unittest

import e2e_support  # noqa: F401  (puts tools/ on the import path)
from metronome_tool import experiments
from metronome_tool.experiments_cmd import table_rows

TOTAL = 300_000_000


def fake_report(shares, idle_ppm=0, timeline=(), extra=None):
    """A report whose books balance: each guest ran `share` % and was allotted the same."""
    guests = []
    allotted = 0
    for name, share in shares.items():
        ticks = int(TOTAL * share / 100)
        allotted += ticks
        g = {"name": name, "image": "spin", "state": "running", "exit_reason": None,
             "yield_on_hlt": False, "slices": 75, "allotted_ticks": ticks, "ran_ticks": ticks,
             "halted_ticks": 0, "halted_observable": True, "hypervisor_ticks": 0,
             "share_ppm": int(share * 10_000), "allotted_ppm": int(share * 10_000)}
        g.update((extra or {}).get(name, {}))
        guests.append(g)
    idle = int(TOTAL * idle_ppm / 1_000_000)
    return {"guests": guests, "duration_ticks": TOTAL, "idle_ticks": idle,
            "switching_ticks": TOTAL - allotted - idle, "totals_add_up": True, "protocol_errors": 0,
            "tsc_hz": 1_000_000_000, "timeline": {"window_ticks": 50_000_000, "spans": list(timeline)}}


class Checks(unittest.TestCase):
    def test_four_equal_passes_within_half_a_point(self):
        rep = fake_report({"a": 25.0, "b": 24.8, "c": 25.3, "d": 24.7})
        self.assertEqual(experiments.check_four_equal(rep).failures, [])

    def test_four_equal_fails_beyond_half_a_point(self):
        rep = fake_report({"a": 25.0, "b": 24.4, "c": 25.3, "d": 24.7})
        failures = experiments.check_four_equal(rep).failures
        self.assertEqual(len(failures), 1)
        self.assertIn("b: 24.40%", failures[0])

    def test_books_that_do_not_balance_fail(self):
        rep = fake_report({"a": 25.0, "b": 25.0, "c": 25.0, "d": 25.0})
        rep["switching_ticks"] += 1
        self.assertTrue(any("totals" in f for f in experiments.check_four_equal(rep).failures))

    def test_too_few_slices_fail(self):
        rep = fake_report({"a": 25.0, "b": 25.0, "c": 25.0, "d": 25.0})
        for g in rep["guests"]:
            g["slices"] = 10
        self.assertTrue(any("slices" in f for f in experiments.check_four_equal(rep).failures))

    def test_reclaim_expectation_follows_the_death_time(self):
        # The dying guest (index 3) last ran until 30 ms of a 300 ms run: 10% at 25, 90% at 33.33.
        timeline = [[3, "running", 29_000_000, 30_000_000]]
        extra = {"dies": {"exit_reason": "powerdown", "state": "exited"}}
        rep = fake_report({"a": 32.5, "b": 32.5, "c": 32.5, "dies": 2.5}, timeline=timeline,
                          extra=extra)
        outcome = experiments.check_death(True, "powerdown")(rep)
        self.assertAlmostEqual(outcome.expected[0].value, 32.5, places=2)
        self.assertEqual(outcome.failures, [])
        reserve = experiments.check_death(False, "triple_fault")(rep)
        self.assertTrue(any("triple_fault" in f for f in reserve.failures))

    def test_capacity_lines_are_required(self):
        rep = fake_report({"a": 25.0, "b": 25.0, "cap": 0.1}, idle_ppm=499_000)
        lines = ["[cap] " + line for line in experiments.EXPECTED_CAPACITY]
        self.assertEqual(experiments.check_capped(rep, lines).failures, [])
        self.assertEqual(len(experiments.check_capped(rep, lines[1:]).failures), 1)

    def test_table_has_a_row_per_run_and_the_verdict(self):
        rep = fake_report({"a": 25.0, "b": 24.4, "c": 25.3, "d": 24.7})
        run = experiments.BY_KEY["exp1-fixed"]
        rows = table_rows([(run, experiments.check_four_equal(rep), [])])
        row = next(r for r in rows if "fixed" in r)
        self.assertIn("25.00/24.40/25.30/24.70", row)
        self.assertIn("FAIL (±0.5)", row)

    def test_every_run_is_at_least_200_slices_long(self):
        for run in experiments.RUNS:
            self.assertIn(f"duration_ms = {experiments.DURATION_MS}", run.config)
        self.assertGreaterEqual(experiments.DURATION_MS, 200)


if __name__ == "__main__":
    sys.argv[1:] = []
    unittest.main(verbosity=1)
