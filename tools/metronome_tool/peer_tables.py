"""Metronome and KVM side by side: the bench figures with a KVM column per L1D-flush setting and
the ratio Metronome/KVM, the experiments table with KVM rows, and the thread's scenario.

Metronome's side comes from what its own commands wrote: bench/results/bochs.json
(`tools/metronome bench`) and BUILD/experiments/EXP/report.json (`tools/metronome experiments`).
KVM's side comes from peer_figures.py. Pure: tests/e2e/peer_kvm_test.py checks it.
"""
import json
import pathlib

from . import bench, experiments, paths, peer_figures, peer_runs
from .experiments import Expect, Outcome

KVM_RESULTS = paths.SOURCE_DIR / "bench" / "results" / "kvm.json"
COMMITTED_SETTING = "cond"  # KVM's default vmentry_l1d_flush
COMMITTED_NOTE = ("KVM rows: Linux KVM under CFS in the same Bochs machine, vmentry_l1d_flush="
                  f"{COMMITTED_SETTING}, from bench/results/kvm.json (tools/metronome peer kvm; "
                  "kvm.md has both settings), judged like Metronome's")

# (KVM figure, the Metronome figure it stands beside, kvm-peer run, how KVM's was measured).
TRIPS = (
    ("cpuid", "cpuid round trip", "cpuid round trip",
     "leaf 0, answered inside KVM from its KVM_SET_CPUID2 table"),
    ("vmcall", "vmcall round trip", "vmcall round trip",
     "hypercall 0x7fff, answered inside KVM with -KVM_ENOSYS"),
    ("inb_kernel", "inb round trip, in-kernel device", "inb round trip",
     "port 0x21, the in-kernel 8259 (KVM_CREATE_IRQCHIP); Metronome answers port 0x80 itself"),
    ("inb_user", "inb round trip, answered in userspace", "inb round trip",
     "port 0x80: no device in KVM, so each read returns from KVM_RUN to kvm-peer, which "
     "answers 0xFF and calls KVM_RUN again (QEMU's path)"),
    ("rdmsr", "rdmsr round trip", "rdmsr round trip",
     "IA32_APIC_BASE, intercepted and answered by KVM's in-kernel APIC (a value, no #GP), so "
     "KVM's baseline is NOP where Metronome's is a natively taken #GP"),
)
RATIO_UNITS = ("instr", "bytes")


def _figure(name, value, unit, method, runs, pair):
    return {"figure": name, "value": value, "unit": unit, "method": method, "runs": list(runs),
            "metronome": pair}


def _share(parsed, setting, name):
    run = parsed["runs"].get((setting, name))
    return run["share"] if run else None


def kvm_figures(parsed, setting, facts):
    """KVM's figures for one vmentry_l1d_flush setting, each naming its Metronome pair."""
    out = []
    vm = parsed["runs"].get((setting, "vmexit"))
    trips = peer_figures.round_trips(vm["lines"]) if vm else {}
    for kind, name, pair, what in TRIPS:
        t = trips.get(kind)
        out.append(_figure(name, t["ticks"] if t else None, "instr",
                           f"guest: best of 8 x {bench.VMEXIT_ITERATIONS} iterations minus the "
                           f"same loop around NOP; {what}"
                           + (f" (raw {t['raw']}, native {t['native']})" if t else ""),
                           ["vmexit"], pair))
    costs = {}
    for n in peer_runs.SWITCH_GUESTS:
        share = _share(parsed, setting, f"switch-{n}")
        tl = peer_figures.timeline(share) if share else None
        sw = tl["switches"] if tl else None
        costs[n] = sw["mean"] if sw else None
        method = ("CFS at its 4 ms tick (HZ=250), spinning VMs: a spinner's last guest instruction "
                  "to the next spinner's first, from the gaps in their TSCs")
        if sw:
            method += (f"; {sw['count']} switches, median {sw['median']}, min {sw['min']}, "
                       f"max {sw['max']}; all time outside guest mode per switch "
                       f"{tl['outside_guest_per_switch']}; {tl['switches_per_second']:.0f} "
                       "switches/s")
        out.append(_figure(f"slice switch, {n} guests", costs[n], "instr", method,
                           [f"switch-{n}"], f"slice switch, {n} guests"))
    lo, hi = costs.get(peer_runs.SWITCH_GUESTS[0]), costs.get(peer_runs.SWITCH_GUESTS[-1])
    out.append(_figure("slice switch growth, 2 -> 64 guests",
                       None if not lo or hi is None else round(100 * (hi - lo) / lo, 1), "%",
                       "(cost at 64 - cost at 2) / cost at 2",
                       [f"switch-{n}" for n in peer_runs.SWITCH_GUESTS],
                       "slice switch growth, 2 -> 64 guests"))
    share = _share(parsed, setting, "exp1-cfs")
    tl = peer_figures.timeline(share) if share else None
    out.append(_figure("time outside guest mode, 4 CPU-bound guests",
                       None if tl is None else round(tl["outside_guest_percent"], 4), "%",
                       "window minus the four spinners' guest-mode time, over the window (CFS "
                       "slices: 4 ms ticks; Metronome's: 1 ms)", ["exp1-cfs"],
                       "root-mode share, 1000 us, spin neighbours"))
    share = _share(parsed, setting, "switch-64")
    ok = bool(share) and len(share["vms"]) == 64 and peer_figures.all_ran(share)
    out.append(_figure("guests on one CPU", 64 if ok else None, "guests",
                       "64 VMs as threads, every one entered its guest and got CPU time"
                       if ok else "the 64-VM run failed", ["switch-64"],
                       "guests on one CPU (2 MiB each, 256 MiB machine)"))
    first = (vm or {}).get("vmexit") or {}
    elapsed = first.get("create_to_first_instruction_tsc")
    out.append(_figure("setup to first guest instruction, 1 guest", first.get("setup_cpu_ns"),
                       "instr", "CPU time of the thread from KVM_CREATE_VM until KVM_RUN returns "
                       "from the guest's first instructions, median of 5 VMs"
                       + (f" (elapsed to the first instruction: {bench._num(elapsed)}, waits "
                          "for RCU grace periods included)" if elapsed else "")
                       + "; KVM fills guest memory on first touch, Metronome allocates and maps "
                       "all of it first (prepare_session to the first VMLAUNCH)", ["vmexit"],
                       "setup:vmexit"))
    for n, run, pair in ((4, "exp1-cfs", "setup:slice-1000us-spin"),
                         (64, "switch-64", "setup:switch-64")):
        share = _share(parsed, setting, run)
        out.append(_figure(f"setup of {n} guests", share.get("create_cpu_ns") if share else None,
                           "instr", f"CPU time of the thread creating {n} VMs (KVM_CREATE_VM to "
                           "KVM_SET_REGS, before their threads start)"
                           + (f"; elapsed {bench._num(share['create_tsc'])}" if share else "")
                           + "; Metronome: prepare_session to the first VMLAUNCH", [run], pair))
    out.append(_figure("hypervisor size", facts.get("module_bytes"), "bytes",
                       "kvm.ko + kvm-intel.ko + irqbypass.ko as Debian ships them; Metronome: "
                       "metronome.efi", [], "metronome.efi size"))
    return out


def metronome_value(doc, pair):
    """The Metronome number a KVM figure stands beside, from bench/results/bochs.json."""
    if doc is None or pair is None:
        return None
    if pair.startswith("setup:"):
        b = doc.get("runs", {}).get(pair[len("setup:"):], {}).get("bench") or {}
        if b.get("first_entry_tsc") and b.get("session_start_tsc"):
            return b["first_entry_tsc"] - b["session_start_tsc"]
        return None
    for f in doc.get("figures", []):
        if f["figure"] == pair:
            return f["value"] if isinstance(f["value"], (int, float)) else None
    return None


def ratio(metronome, kvm, unit):
    """Metronome / KVM, for costs and sizes (two decimals, two digits below 0.1)."""
    if unit not in RATIO_UNITS or not isinstance(metronome, (int, float)) or not kvm:
        return None
    r = metronome / kvm
    return round(r, 2) if r >= 0.1 else float(f"{r:.2g}")


def bench_rows(metronome_doc, kvm_by_setting):
    """[(figure, unit, metronome value, {setting: kvm value}, {setting: ratio}, method)]."""
    settings = list(kvm_by_setting)
    rows = []
    for i, fig in enumerate(kvm_by_setting[settings[0]]):
        m = metronome_value(metronome_doc, fig["metronome"])
        values = {s: kvm_by_setting[s][i]["value"] for s in settings}
        rows.append((fig["figure"], fig["unit"], m, values,
                     {s: ratio(m, values[s], fig["unit"]) for s in settings}, fig["method"]))
    return rows


def _cell(v, unit=""):
    if v is None:
        return "n/a"
    return bench._num(v) + (f" {unit}" if unit else "")


def _ratio_cell(r):
    return "n/a" if r is None else f"{r:.2f}" if r >= 0.1 else f"{r:.2g}"


def bench_table(rows):
    settings = list(rows[0][3]) if rows else []
    head = (["figure", "unit", "Metronome"] + [f"KVM l1d={s}" for s in settings]
            + [f"M/KVM {s}" for s in settings])
    table = [head] + [[f, u, _cell(m)] + [_cell(v[s]) for s in settings]
                      + [_ratio_cell(r[s]) for s in settings] for f, u, m, v, r, _ in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table)


def bench_markdown(rows):
    settings = list(rows[0][3]) if rows else []
    out = ["| Figure | Metronome | " + " | ".join(f"KVM, vmentry_l1d_flush={s}" for s in settings)
           + " | " + " | ".join(f"Metronome / KVM ({s})" for s in settings) + " | KVM method |",
           "|---" * (3 + 2 * len(settings)) + "|"]
    for f, u, m, v, r, method in rows:
        out.append(f"| {f} | {_cell(m, u)} | " + " | ".join(_cell(v[s], u) for s in settings)
                   + " | " + " | ".join(_ratio_cell(r[s]) for s in settings)
                   + f" | {method.replace('|', chr(92) + '|')} |")
    return "\n".join(out)


# --- The experiments: KVM rows in the shape of tools/metronome experiments' table.

class KvmRow:
    """Stands in for experiments.Run in experiments_cmd.table_rows: a KVM row of the table."""

    def __init__(self, key, experiment, policy):
        self.key = key
        self.experiment = experiment
        self.policy = policy
        titles = [r.title for r in experiments.RUNS if r.experiment == experiment]
        self.title = titles[0] if titles else ""


def _judge(expected, measured, failures, notes):
    failures = list(failures)
    for e, got in zip(expected, measured):
        if got is None or abs(got - e.value) > e.tolerance + 1e-9:
            failures.append(f"{e.who()}: {'n/a' if got is None else f'{got:.2f}'}%, expected "
                            f"{e.value:.2f} ± {e.tolerance}" + (f" ({e.why})" if e.why else ""))
    rough = {}
    for e in expected:
        if e.tolerance != experiments.TOLERANCE and e.why:
            rough.setdefault(e.why, (e.tolerance, []))[1].append(e.who())
    notes = [f"{'/'.join(w)} ± {t:g}: {why}" for why, (t, w) in rough.items()] + list(notes)
    return Outcome(expected, measured, failures, notes)


CFS_NOTE = ("KVM rows: CFS switches at its 4 ms tick (HZ=250), ~75 slices in 300 ms, so one "
            "slice is 1.33 points of share (Metronome's: 300 slices of 1 ms, 0.33 points)")


def check_kvm(name, share):
    """The Outcome of one KVM experiment run: Metronome's expectations, the same tolerances."""
    s = peer_figures.shares(share)
    pct = {v["name"]: v["percent"] for v in s["vms"]}
    by = {v["name"]: v for v in s["vms"]}
    failures, notes = [], []
    if name in ("exp1-cfs", "exp1-capped"):
        expected = experiments.each("abcd", 25.0)
    elif name == "exp2-hlt-exits":
        expected = [Expect(n, 33.33, 1.0, experiments.ROUGH_THIRD) for n in "abc"]
        expected.append(Expect("idle", 1.0, 1.0, experiments.ROUGH_IDLE))
    elif name == "exp2-hlt-native":
        expected = experiments.each(["a", "b", "c", "idle"], 25.0)
    elif name == "exp3-fifth":
        light = pct["light"]
        expected = experiments.each("abcd", round((100 - light) / 4, 2))
        notes.append(f"expected = (100 - light VM {light:.2f}) / 4: they 'barely move' from 25 "
                     "(CFS charges exits and switches to the VM threads themselves)")
        if not 3 <= light <= 6:
            failures.append(f"the light VM used {light:.2f}%, not ~5%")
    elif name == "exp4-crash":
        dies = by["dies"]
        if dies["end"] != "shutdown":
            failures.append(f"the dying VM ended '{dies['end']}', not with a triple-fault shutdown")
        died = dies.get("end_ms", s["window_ms"])
        before = died / s["window_ms"]
        value = round(25.0 * before + 100 / 3 * (1 - before), 2)
        expected = experiments.each("abc", value)
        notes.append(f"the others take its share (CFS has no reserve): 25% for the {died:.1f} ms "
                     f"before the triple fault (KVM_EXIT_SHUTDOWN), 33.33% after: {value:.2f}%")
    elif name == "exp5-capped":
        expected = experiments.each("ab", 25.0) + [Expect(None, 50.0, measure="idle")]
        notes.append("the idle CPU is 100% less what all tasks ran (/proc/schedstat)")
    else:
        raise ValueError(f"no KVM check for {name}")
    for vm in s["vms"]:
        if "ticks" in vm and vm["workload"] == "idle":
            notes.append(f"idle VM: {vm['ticks']} of {vm['ticks_expected']:.0f} timer interrupts "
                         f"handled, ran {vm['percent']:.2f}%")
    measured = [s["idle_percent"] if e.measure == "idle" else pct.get(e.guest) for e in expected]
    return _judge(expected, measured, failures, notes)


def kvm_experiment_rows(parsed, setting):
    """[(KvmRow, Outcome or None, problems)] for the experiments KVM has an equivalent of."""
    out = []
    for r in peer_runs.runs():
        if not r.experiment:
            continue
        run = parsed["runs"].get((setting, r.name))
        row = KvmRow(f"kvm-{setting}-{r.name}", r.experiment, f"KVM {r.title}, l1d={setting}")
        if run is None or run["share"] is None:
            if run is not None:
                out.append((row, None, [f"{r.name}: no result (exit status {run['rc']})"]))
            continue
        out.append((row, check_kvm(r.name, run["share"]), []))
    return out


def rows_to_json(rows):
    return [{"key": row.key, "experiment": row.experiment, "policy": row.policy,
             "expected": [{"guest": e.guest, "value": e.value, "tolerance": e.tolerance,
                           "why": e.why, "measure": e.measure} for e in o.expected] if o else [],
             "measured": o.measured if o else [], "failures": (o.failures if o else []) + p,
             "notes": o.notes if o else []} for row, o, p in rows]


def rows_from_json(items):
    """The KVM rows of bench/results/kvm.json, ready for experiments_cmd.table_rows."""
    out = []
    for item in items:
        row = KvmRow(item["key"], item["experiment"], item["policy"])
        expected = [Expect(e["guest"], e["value"], e["tolerance"], e["why"], e["measure"])
                    for e in item["expected"]]
        if not expected:
            out.append((row, None, item["failures"]))
            continue
        out.append((row, Outcome(expected, item["measured"], item["failures"], item["notes"]), []))
    return out


def committed_kvm_rows(experiment_numbers, path=KVM_RESULTS):
    """The committed KVM rows (KVM's default setting) of the given experiments, or []."""
    try:
        items = json.loads(pathlib.Path(path).read_text())["experiments"]
    except (OSError, ValueError, KeyError):
        return []
    return [x for x in rows_from_json(items) if x[0].experiment in experiment_numbers
            and x[0].key.startswith(f"kvm-{COMMITTED_SETTING}-")]


def merged(metronome_rows, kvm_rows):
    """Metronome's rows and KVM's in one list, by experiment, Metronome's first in each."""
    keyed = [(r.experiment, 0, i, x) for i, x in enumerate(metronome_rows) for r in [x[0]]]
    keyed += [(r.experiment, 1, i, x) for i, x in enumerate(kvm_rows) for r in [x[0]]]
    return [x for _, _, _, x in sorted(keyed, key=lambda k: k[:3])]


# --- The thread's scenario, on one page.

def scenario_rows(parsed, settings):
    """[(label, a, b, c, idle, ticks handled, ticks expected, mean spinner iterations/ms)]."""
    out = []
    for setting in settings:
        for name, label in (("exp2-hlt-exits", "HLT exits (KVM default)"),
                            ("exp2-hlt-native", "HLT in the guest (DISABLE_EXITS)")):
            share = _share(parsed, setting, name)
            if share is None:
                continue
            s = peer_figures.shares(share)
            by = {v["name"]: v for v in s["vms"]}
            spin = [by[n]["iterations_per_ms"] for n in "abc"]
            out.append((f"KVM l1d={setting}, {label}", by["a"]["percent"], by["b"]["percent"],
                        by["c"]["percent"], by["idle"]["percent"], by["idle"]["ticks"],
                        by["idle"]["ticks_expected"], sum(spin) / len(spin)))
    return out


def scenario_table(rows):
    head = f"{'':48}{'a':>9}{'b':>9}{'c':>9}{'idle':>9}  idle VM's ticks  spinner iterations/ms"
    lines = [head]
    for label, a, b, c, idle, ticks, expected, rate in rows:
        lines.append(f"{label:48}{a:8.2f}%{b:8.2f}%{c:8.2f}%{idle:8.2f}%  "
                     f"{ticks:>4} of {expected:<4.0f}      {rate:,.0f}")
    return "\n".join(lines)
