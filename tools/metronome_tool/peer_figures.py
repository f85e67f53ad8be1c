"""The KVM peer's figures, from what the bare Linux printed on port 0xE9 (peer_runs.py's /init):
parsing, exit round trips, CPU shares, and the spinners' timelines turned into switch costs.

Pure: tests/e2e/peer_kvm_test.py checks all of it on made-up output. Clocks: the guests' TSC
and the host's are the same clock (kvm-peer zeroes the TSC offset), and Linux runs with
tsc_early_khz = ips / 1000, so every ns below is an emulated ns = one Bochs instruction.
"""
import bisect
import json
import statistics

from . import bench

BEGIN, END_RUN = "PEER-KVM-RUN-BEGIN", "PEER-KVM-RUN-END"
INFO, SHARE, VMEXIT = "PEER-KVM-INFO", "PEER-KVM-SHARE", "PEER-KVM-VMEXIT"
ERROR, END = "PEER-KVM-ERROR", "PEER-KVM-END"

# kvm-peer's vmexit loops (tools/peer/guest.S); all subtract the NOP loop.
TRIP_KINDS = ("cpuid", "vmcall", "inb_kernel", "inb_user", "rdmsr")


def parse(lines):
    """{"info": {key: value, or a list when repeated}, "runs": {(setting, name): run},
    "errors": [...], "ended": bool}; run: {"lines", "rc", "share", "vmexit", "uptime"}."""
    out = {"info": {}, "runs": {}, "errors": [], "ended": False}
    current = None
    for line in lines:
        head, _, rest = line.partition(" ")
        if head == INFO:
            key, _, value = rest.partition("=")
            info = out["info"]
            if key in info:
                info[key] = (info[key] if isinstance(info[key], list) else [info[key]]) + [value]
            else:
                info[key] = value
        elif head == BEGIN:
            setting, name = rest.split()[:2]
            current = {"lines": [], "rc": None, "share": None, "vmexit": None,
                       "uptime": [_uptime(rest), None]}
            out["runs"][(setting, name)] = current
        elif head == END_RUN and current is not None:
            fields = dict(f.split("=", 1) for f in rest.split()[2:] if "=" in f)
            current["rc"] = int(fields.get("rc", "-1"))
            current["uptime"][1] = _uptime(rest)
            current = None
        elif head == ERROR:
            out["errors"].append(rest)
            if current is not None:
                current["lines"].append(line)
        elif head == END:
            out["ended"] = True
        elif current is not None:
            current["lines"].append(line)
            if head == SHARE:
                current["share"] = json.loads(rest)
            elif head == VMEXIT:
                current["vmexit"] = json.loads(rest)
    return out


def _uptime(rest):
    for field in rest.split():
        if field.startswith("uptime="):
            return float(field[len("uptime="):])
    return None


# --- Exit round trips (the method of guest/workloads/vmexit.cpp and bench.round_trips).

def round_trips(lines):
    """{kind: {"ticks", "raw", "native", "worst"}} per iteration, each minus the NOP loop."""
    loops = bench.vmexit_loops(lines)
    out = {}
    if "nop" not in loops:
        return out
    base = loops["nop"]["best"] / loops["nop"]["n"]
    for kind in TRIP_KINDS:
        if kind in loops:
            raw = loops[kind]["best"] / loops[kind]["n"]
            out[kind] = {"ticks": round(raw - base, 1), "raw": round(raw, 1),
                         "native": round(base, 1),
                         "worst": round(loops[kind]["worst"] / loops[kind]["n"] - base, 1)}
    return out


# --- CPU shares.

def shares(share):
    """Per VM: CPU share of the window (its thread's schedstat time), what it did, and the CPU's
    idle share. {"window_ms", "idle_percent", "vms": [{"name", "percent", ...}]}."""
    window = share["window_ns"]
    vms = []
    for vm in share["vms"]:
        entry = {"name": vm["name"], "workload": vm["workload"],
                 "percent": 100 * vm["exec_ns"] / window,
                 "progress": vm["progress"], "timeslices": vm["timeslices"],
                 "end": vm["end"], "kvm": vm.get("kvm", {})}
        if vm["workload"] == "spin":
            entry["iterations_per_ms"] = vm["progress"] / (window / 1e6)
            entry["iterations_per_cpu_ms"] = (vm["progress"] / (vm["exec_ns"] / 1e6)
                                              if vm["exec_ns"] else None)
        if vm["hz"]:
            entry["ticks"] = vm["ticks"]
            entry["ticks_expected"] = vm["hz"] * window / 1e9
        if "end_ns" in vm:
            entry["end_ms"] = vm["end_ns"] / 1e6
        vms.append(entry)
    return {"window_ms": window / 1e6, "vms": vms,
            "idle_percent": 100 - 100 * share["cpu_busy_ns"] / window,
            "clock_ratio": share["window_tsc"] / window if window else None}


# --- Timelines: when each spinner was in guest mode, from the gaps it saw in its TSC.

def guest_intervals(vm, window_tsc):
    """[(start, end)] of a spinner's guest-mode time inside [0, window_tsc]: from its first
    instruction, between the gaps it recorded, to the end of the window or to `last_tsc`, the
    last TSC it read before it saw STOP, whichever is first (a spinner taken off the CPU near
    the end records no gap for that: it sees STOP as soon as it is back). A run may be one loop
    iteration long (start == end): the guest was entered, and left again at once."""
    first = vm.get("first_tsc")
    if vm["workload"] != "spin" or first is None:
        return []
    end = min(window_tsc, vm.get("last_tsc", window_tsc))
    out = []
    cur = max(first, 0)
    for before, after in sorted(vm["gaps"]):
        if before >= cur and cur < end:
            out.append((cur, min(before, end)))
        cur = max(cur, after)
    if cur < end:
        out.append((cur, end))
    return out


def _stats(values):
    if not values:
        return None
    return {"count": len(values), "mean": round(statistics.fmean(values), 1),
            "median": statistics.median(values), "min": min(values), "max": max(values)}


def timeline(share):
    """Who ran when, among the spinners: each time one stops, who enters guest mode next.
    Another VM: a switch, costing the time from the last guest instruction of one to the first
    of the other (the counterpart of Metronome's timer exit to next entry). The same VM: an
    interruption without a switch (a host tick, an exit right after a switch). A VM's first
    entry ever is left out (it pays its EPT faults and its thread's start)."""
    window = share["window_tsc"]
    starts, stops = [], []
    spinners = 0
    guest_time = 0
    first_start = window
    for index, vm in enumerate(share["vms"]):
        runs = guest_intervals(vm, window)
        if not runs:
            continue
        spinners += 1
        first_start = min(first_start, runs[0][0])
        guest_time += sum(e - s for s, e in runs)
        for i, (s, e) in enumerate(runs):
            starts.append((s, index, i == 0))
            if e < window:
                stops.append((e, index))
    starts.sort()
    keys = [s[0] for s in starts]
    switch_costs, interruption_costs = [], []
    for stop, who in stops:
        k = bisect.bisect_right(keys, stop)
        if k == len(starts):
            continue
        start, next_who, is_first = starts[k]
        if next_who == who:
            interruption_costs.append(start - stop)
        elif not is_first:
            switch_costs.append(start - stop)
    span = window - first_start
    outside = span - guest_time
    seconds = window / 1e9
    # Metronome's switching ticks / slices counts all root-mode time between slices: here the
    # switches and the interruptions together, per switch (first entries left out).
    steady = sum(switch_costs) + sum(interruption_costs)
    return {"spinners": spinners, "switches": _stats(switch_costs),
            "interruptions": _stats(interruption_costs),
            "switches_per_second": len(switch_costs) / seconds if seconds else None,
            "outside_guest_percent": 100 * outside / span if span > 0 else None,
            "outside_guest_per_switch": round(steady / len(switch_costs), 1)
            if switch_costs else None}


def all_ran(share):
    """Every VM got CPU time and entered its guest."""
    return all(vm["exec_ns"] > 0 and vm.get("first_tsc") is not None for vm in share["vms"])
