"""The METRONOME-REPORT line: parse it, check that its books balance, and print it for people.

Every TSC tick of a run is charged to exactly one place: a guest's allotted time (ran + halted on
its behalf + hypervisor work inside its slices), idle on nobody's behalf, or switching between
guests. The checks here are exact (integer ticks), not approximate."""
import json

from . import serial_log

MARKER = "METRONOME-REPORT"


def parse(lines):
    """The report dict, or raises ValueError saying why there is none."""
    report = serial_log.json_line(lines, MARKER)
    if report is None:
        raise ValueError("no METRONOME-REPORT line")
    return report


def totals_problems(report):
    """Every way the books fail to balance, in words; empty when they do. Per CPU: each CPU's
    guests' allotted time, its idle and its switching make its run length (`cpus`; a report
    without it is one CPU's, its own fields)."""
    problems = []
    allotted = {}
    for g in report["guests"]:
        halted = g["halted_ticks"] or 0
        parts = g["ran_ticks"] + halted + g["hypervisor_ticks"]
        if parts != g["allotted_ticks"]:
            problems.append(f"{g['name']}: allotted {g['allotted_ticks']} != ran {g['ran_ticks']} "
                            f"+ halted {halted} + hypervisor {g['hypervisor_ticks']} = {parts}")
        if g["halted_ticks"] is None and g["halted_observable"]:
            problems.append(f"{g['name']}: halted time observable but reported null")
        allotted[g.get("cpu", 0)] = allotted.get(g.get("cpu", 0), 0) + g["allotted_ticks"]
    cpus = report.get("cpus") or [dict(report, cpu=0)]
    for c in cpus:
        where = f"CPU {c['cpu']}: " if len(cpus) > 1 else ""
        mine = allotted.get(c["cpu"], 0)
        total = mine + c["idle_ticks"] + c["switching_ticks"]
        if total != c["duration_ticks"]:
            problems.append(f"{where}sum of allotted {mine} + idle {c['idle_ticks']} + switching "
                            f"{c['switching_ticks']} = {total} != run length {c['duration_ticks']}")
        if not c.get("totals_add_up", False):
            problems.append(f"{where}the hypervisor itself says its totals do not add up")
        if c.get("protocol_errors", 0) != 0:
            problems.append(f"{where}{c['protocol_errors']} scheduler protocol errors")
    return problems


def share(guest):
    """Percent of the whole run the guest spent in guest mode."""
    return guest["share_ppm"] / 10_000


def measured_share(guest):
    """Percent of the measurement window (measure_ms) the guest spent in guest mode, or of the
    whole run when the run had no window."""
    window = guest.get("window")
    return window["share_ppm"] / 10_000 if window else share(guest)


def ms(ticks, report):
    return ticks * 1000 / report["tsc_hz"]


def state(guest):
    if guest["exit_reason"] is None:
        return guest["state"]
    return f"{guest['state']} ({guest['exit_detail']})"


def table(report):
    """The per-guest table; with guests on several CPUs, a `cpu` column and a run line per CPU."""
    cpus = report.get("cpus") or []
    several = len(cpus) > 1
    head = (f"{'guest':<10} {'image':<10} " + (f"{'cpu':>3} " if several else "")
            + f"{'share %':>8} {'slices':>7} {'ran ms':>9} "
            f"{'halted ms':>10} {'hv ms':>7} {'exits':>7} {'progress':>11}  state")
    rows = [head]
    for g in report["guests"]:
        halted = "n/a" if g["halted_ticks"] is None else f"{ms(g['halted_ticks'], report):.2f}"
        exits = sum(g["exits"].values())
        rows.append(f"{g['name']:<10} {g['image']:<10} " + (f"{g.get('cpu', 0):>3} " if several else "")
                    + f"{share(g):>8.2f} {g['slices']:>7} "
                    f"{ms(g['ran_ticks'], report):>9.2f} {halted:>10} "
                    f"{ms(g['hypervisor_ticks'], report):>7.2f} {exits:>7} {g['progress']:>11}  {state(g)}")
    cfg = report["config"]
    for run in (cpus if several else [report]):
        where = f"CPU {run['cpu']}: " if several else ""
        rows.append(f"{where}run {run['duration_us'] / 1000:.1f} ms, policy {cfg['policy']}, "
                    f"slice {cfg['slice_us']} us, TSC {report['tsc_hz']} Hz ({report['tsc_source']}), "
                    f"idle {ms(run['idle_ticks'], report):.2f} ms, "
                    f"switching {ms(run['switching_ticks'], report):.2f} ms")
    return "\n".join(rows)


def side_by_side(labelled):
    """One row per labelled report: the CPU share of each guest (of the measurement window, when
    the run had one), in configuration order."""
    names = [g["name"] for g in labelled[0][1]["guests"]]
    width = max(len(label) for label, _ in labelled)
    head = f"{'':<{width}}  " + "  ".join(f"{n:>8}" for n in names)
    rows = [head]
    for label, report in labelled:
        shares = {g["name"]: measured_share(g) for g in report["guests"]}
        rows.append(f"{label:<{width}}  " + "  ".join(f"{shares.get(n, 0):>7.2f}%" for n in names))
    return "\n".join(rows)


def write(report, path):
    path.write_text(json.dumps(report, indent=2) + "\n")
