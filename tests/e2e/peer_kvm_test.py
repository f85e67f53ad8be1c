#!/usr/bin/env python3
"""Host-only checks of `tools/metronome peer kvm`'s pure parts: what /init runs
(peer_runs.py), the figures from kvm-peer's output (peer_figures.py) and the side-by-side
tables and ratios (peer_tables.py), all on made-up output. No emulator, no KVM."""
import json
import pathlib
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))

from metronome_tool import experiments_cmd, peer_figures, peer_runs, peer_tables  # noqa: E402


def vm(name, exec_ns, workload="spin", gaps=(), first=0, last=None, hz=0, ticks=0, **extra):
    out = {"name": name, "workload": workload, "hz": hz, "hlt_exits": True, "tid": 1,
           "exec_ns": exec_ns, "run_delay_ns": 0, "timeslices": 1, "progress": exec_ns // 10,
           "ticks": ticks, "end": "done", "status": 0, "first_tsc": first, "kvm": {},
           "gaps_lost": 0, "gaps": [list(g) for g in gaps]}
    if last is not None:
        out["last_tsc"] = last
    out.update(extra)
    return out


def share(label, vms, window=300_000_000, busy=None):
    return {"label": label, "window_ns": window, "window_tsc": window, "tsc_khz": 1_000_000,
            "cpu_busy_ns": window if busy is None else busy, "gap_threshold": 100,
            "create_tsc": 1000, "create_cpu_ns": 900, "vms": vms}


def boot_lines(setting, runs):
    """What /init prints around each run, with the runs' own lines."""
    lines = ["PEER-KVM-INFO kernel=6.1.0-57-amd64", "PEER-KVM-INFO dmesg=a", "PEER-KVM-INFO dmesg=b"]
    for name, body in runs:
        lines.append(f"PEER-KVM-RUN-BEGIN {setting} {name} uptime=2.00 0.00")
        lines += body
        lines.append(f"PEER-KVM-RUN-END {setting} {name} rc=0 uptime=2.50 0.10")
    return lines + ["PEER-KVM-END"]


VMEXIT = ["vmexit: nop n=1000 reps=8 best=5000 worst=5000",
          "vmexit: cpuid n=1000 reps=8 best=1066000 worst=1080000",
          "vmexit: vmcall n=1000 reps=8 best=1101000 worst=1101000",
          "vmexit: inb_kernel n=1000 reps=8 best=1330000 worst=1330000",
          "vmexit: inb_user n=1000 reps=8 best=7360000 worst=7400000",
          "vmexit: rdmsr n=1000 reps=8 best=1180000 worst=1180000",
          'PEER-KVM-VMEXIT {"user_exits": 8000, "setup_cpu_ns": 7000000, "create_to_first_instruction_tsc": 9000000, "kvm": {}}']


class RunsTest(unittest.TestCase):
    def test_same_machine_and_clock_as_the_benchmarks(self):
        self.assertEqual(peer_runs.IPS, 1_000_000_000)
        self.assertEqual(peer_runs.CPU_MODEL, "corei7_skylake_x")
        for option in ("initrd=\\initrd.img", "rdinit=/init", "tsc_early_khz=1000000",
                       "console=ttyS0,115200"):
            self.assertIn(option, peer_runs.KERNEL_CMDLINE)

    def test_init_runs_everything_once_per_setting_and_shuts_down(self):
        script = peer_runs.init_script(peer_runs.runs())
        self.assertTrue(script.startswith("#!/bin/sh\n"))
        for setting in peer_runs.L1D_SETTINGS:
            self.assertIn(f"load_kvm_intel {setting}", script)
            for r in peer_runs.runs():
                self.assertIn(f"run {setting} {r.name} ", script)
        self.assertIn("insmod /lib/modules/kvm-intel.ko vmentry_l1d_flush=$1", script)
        self.assertIn("main 2>&1 | /bin/kvm-peer e9", script)
        self.assertTrue(script.rstrip().endswith("/bin/kvm-peer shutdown"))

    def test_scenario_vms_and_switch_windows(self):
        by = {r.name: r for r in peer_runs.runs()}
        self.assertIn("idle:idle:hz=100:rounds=2000", by["exp2-hlt-exits"].args)
        self.assertTrue(all(a.endswith(":hlt=native") for a in by["exp2-hlt-native"].args[7:]))
        self.assertEqual(sum(a.endswith(":spin") for a in by["switch-64"].args), 64)
        self.assertEqual(peer_runs.switch_window_ms(2), 300)
        self.assertEqual(peer_runs.switch_window_ms(64), 768)
        with self.assertRaises(ValueError):
            peer_runs.select(["nope"])


class ParseTest(unittest.TestCase):
    def test_runs_info_and_end(self):
        doc = share("exp1-cfs", [vm("a", 1)])
        parsed = peer_figures.parse(boot_lines("cond", [("vmexit", VMEXIT),
                                                        ("exp1-cfs", ["PEER-KVM-SHARE " + json.dumps(doc)])]))
        self.assertTrue(parsed["ended"])
        self.assertEqual(parsed["info"]["dmesg"], ["a", "b"])
        self.assertEqual(parsed["runs"][("cond", "vmexit")]["rc"], 0)
        self.assertEqual(parsed["runs"][("cond", "vmexit")]["uptime"], [2.0, 2.5])
        self.assertEqual(parsed["runs"][("cond", "vmexit")]["vmexit"]["user_exits"], 8000)
        self.assertEqual(parsed["runs"][("cond", "exp1-cfs")]["share"]["label"], "exp1-cfs")

    def test_errors_are_collected(self):
        parsed = peer_figures.parse(["PEER-KVM-RUN-BEGIN never x uptime=1 0",
                                     "PEER-KVM-ERROR kvm-peer: KVM_RUN (VM a): Bad address",
                                     "PEER-KVM-RUN-END never x rc=1 uptime=1 0"])
        self.assertEqual(parsed["errors"], ["kvm-peer: KVM_RUN (VM a): Bad address"])
        self.assertFalse(parsed["ended"])
        self.assertEqual(parsed["runs"][("never", "x")]["rc"], 1)


class FigureTest(unittest.TestCase):
    def test_round_trips_subtract_the_nop_loop(self):
        trips = peer_figures.round_trips(VMEXIT)
        self.assertEqual(trips["cpuid"]["ticks"], 1061.0)
        self.assertEqual(trips["inb_user"]["ticks"], 7355.0)
        self.assertEqual(trips["cpuid"]["worst"], 1075.0)
        self.assertEqual(set(trips), set(peer_figures.TRIP_KINDS))

    def test_shares_ticks_and_idle(self):
        s = peer_figures.shares(share("x", [vm("a", 150_000_000),
                                            vm("idle", 3_000_000, "idle", hz=100, ticks=27)],
                                      busy=153_000_000))
        self.assertAlmostEqual(s["vms"][0]["percent"], 50.0)
        self.assertEqual(s["vms"][1]["ticks_expected"], 30.0)
        self.assertAlmostEqual(s["idle_percent"], 49.0)
        self.assertEqual(s["vms"][0]["iterations_per_ms"], 15_000_000 / 300)

    def test_timeline_switches_and_interruptions(self):
        # a: 0-100, b: 110-200 (a's gap 100-210), a again 210-300 with a tick 250-256.
        a = vm("a", 1, gaps=[(100, 210), (250, 256)], first=0)
        b = vm("b", 1, gaps=[], first=110, last=200)
        tl = peer_figures.timeline(share("t", [a, b], window=300))
        # a -> b is b's first entry (left out); b -> a costs 10; a's tick costs 6.
        self.assertEqual(tl["switches"]["count"], 1)
        self.assertEqual(tl["switches"]["mean"], 10)
        self.assertEqual(tl["interruptions"]["mean"], 6)
        self.assertEqual(tl["outside_guest_per_switch"], 16.0)
        self.assertAlmostEqual(tl["outside_guest_percent"], 100 * 26 / 300)

    def test_intervals_end_at_last_tsc_and_keep_one_iteration_runs(self):
        v = vm("a", 1, gaps=[(10, 20), (20, 30)], first=0, last=40)
        self.assertEqual(peer_figures.guest_intervals(v, 100), [(0, 10), (20, 20), (30, 40)])
        self.assertEqual(peer_figures.guest_intervals(vm("i", 1, "idle"), 100), [])


def metronome_doc():
    names = {"cpuid round trip": 1121.2, "vmcall round trip": 1089.0, "inb round trip": 1124.0,
             "rdmsr round trip": 1038.0, "slice switch, 2 guests": 881.3,
             "metronome.efi size": 931317, "slice switch growth, 2 -> 64 guests": 141.2}
    return {"figures": [{"figure": k, "value": v} for k, v in names.items()],
            "runs": {"vmexit": {"bench": {"session_start_tsc": 100, "first_entry_tsc": 7100}}}}


class TableTest(unittest.TestCase):
    def parsed(self):
        return peer_figures.parse(boot_lines("cond", [("vmexit", VMEXIT)]))

    def test_ratio_is_metronome_over_kvm_for_costs_only(self):
        self.assertEqual(peer_tables.ratio(1121.2, 1061.0, "instr"), 1.06)
        self.assertIsNone(peer_tables.ratio(141.2, 50.0, "%"))
        self.assertIsNone(peer_tables.ratio(None, 5, "instr"))
        self.assertIsNone(peer_tables.ratio(5, 0, "instr"))

    def test_bench_rows_pair_each_kvm_figure_with_metronome(self):
        kvm = {"cond": peer_tables.kvm_figures(self.parsed(), "cond", {"module_bytes": 3_000_000})}
        rows = {r[0]: r for r in peer_tables.bench_rows(metronome_doc(), kvm)}
        name, unit, m, values, ratios, method = rows["cpuid round trip"]
        self.assertEqual((m, values["cond"], ratios["cond"]), (1121.2, 1061.0, 1.06))
        self.assertEqual(rows["inb round trip, answered in userspace"][2], 1124.0)
        self.assertEqual(rows["setup to first guest instruction, 1 guest"][2], 7000)
        self.assertEqual(rows["hypervisor size"][4]["cond"], round(931317 / 3_000_000, 2))
        self.assertIsNone(rows["slice switch, 2 guests"][3]["cond"])  # no switch run here
        text = peer_tables.bench_table(list(rows.values()))
        self.assertIn("M/KVM cond", text.splitlines()[0])
        self.assertIn("| cpuid round trip | 1,121.2 instr | 1,061 instr | 1.06 |",
                      peer_tables.bench_markdown(list(rows.values())))

    def test_experiment_checks_use_metronomes_expectations(self):
        four = share("exp1-cfs", [vm(n, 75_000_000) for n in "abcd"])
        self.assertEqual(peer_tables.check_kvm("exp1-cfs", four).failures, [])
        seed = share("exp2-hlt-exits", [vm("a", 99_000_000), vm("b", 99_000_000),
                                        vm("c", 99_000_000),
                                        vm("idle", 1_500_000, "idle", hz=100, ticks=29)])
        outcome = peer_tables.check_kvm("exp2-hlt-exits", seed)
        self.assertEqual(outcome.failures, [])
        self.assertTrue(any("29 of 30 timer interrupts" in n for n in outcome.notes))
        dying = share("exp4-crash", [vm("a", 97_000_000), vm("b", 97_000_000),
                                     vm("c", 97_000_000),
                                     vm("dies", 9_000_000, "crash", hz=100, ticks=2, end="shutdown",
                                        end_ns=30_000_000)])
        outcome = peer_tables.check_kvm("exp4-crash", dying)
        self.assertEqual(outcome.expected[0].value, round(25 * 0.1 + 100 / 3 * 0.9, 2))
        capped = share("exp5-capped", [vm("a", 80_000_000), vm("b", 75_000_000)],
                       busy=155_000_000)
        outcome = peer_tables.check_kvm("exp5-capped", capped)
        self.assertEqual(len(outcome.failures), 2)  # a at 26.67%, CPU idle at 48.33%

    def test_rows_survive_json_and_sort_into_the_experiments_table(self):
        lines = boot_lines("cond", [("exp1-cfs", ["PEER-KVM-SHARE " + json.dumps(
            share("exp1-cfs", [vm(n, 75_000_000) for n in "abcd"]))])])
        rows = peer_tables.kvm_experiment_rows(peer_figures.parse(lines), "cond")
        again = peer_tables.rows_from_json(json.loads(json.dumps(peer_tables.rows_to_json(rows))))
        table = experiments_cmd.table_rows(again)
        self.assertIn("KVM CFS, l1d=cond", "\n".join(table))
        self.assertIn("25.00/25.00/25.00/25.00", "\n".join(table))
        metronome = [(peer_tables.KvmRow("m5", 5, "capped"), None, ["x"]),
                     (peer_tables.KvmRow("m1", 1, "fixed"), None, ["x"])]
        order = [r.key for r, _, _ in peer_tables.merged(metronome, again)]
        self.assertEqual(order, ["m1", again[0][0].key, "m5"])

    def test_committed_rows_are_the_default_settings_of_the_experiments_asked_for(self):
        lines = boot_lines("cond", [("exp1-cfs", ["PEER-KVM-SHARE " + json.dumps(
            share("exp1-cfs", [vm(n, 75_000_000) for n in "abcd"]))])])
        parsed = peer_figures.parse(lines + [l.replace(" cond ", " never ") for l in lines])
        rows = [x for s in ("cond", "never") for x in peer_tables.kvm_experiment_rows(parsed, s)]
        with tempfile.TemporaryDirectory() as d:
            path = pathlib.Path(d) / "kvm.json"
            path.write_text(json.dumps({"experiments": peer_tables.rows_to_json(rows)}))
            kept = peer_tables.committed_kvm_rows({1}, path)
            self.assertEqual([r.key for r, _, _ in kept], ["kvm-cond-exp1-cfs"])
            self.assertEqual(peer_tables.committed_kvm_rows({2}, path), [])
            self.assertEqual(peer_tables.committed_kvm_rows({1}, pathlib.Path(d) / "none"), [])


if __name__ == "__main__":
    unittest.main()
