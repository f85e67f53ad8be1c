"""Where the root-mode instructions of one exit go: `tools/metronome bench --profile-exit`.

Boots the `vmexit` run in Bochs under its internal debugger, stops on VM exits (`vmexitbp`)
until the guest is inside its CPUID loop, then traces instruction by instruction (`trace on`,
`s N`) up to the next VM exit, and charges every traced instruction to the function of
metronome.so that contains it. In Bochs one instruction is one TSC tick, so the total is the
CPUID round trip the guest measures. Facts used: tools/PLATFORMS.md, "The
debugger, scripted".
"""
import bisect
import collections
import pathlib
import re
import subprocess

from . import bochs, bench

EXITS_TO_SKIP = 20      # the console line and warm-up exits come first; then CPUID exits only
TRACE_STEPS = 4000      # more than one round trip; the trace is cut at the next VM exit
TRACE_LINE = re.compile(r"^\(0\)\.\[(\d+)\] \[0x([0-9a-f]+)\]")
EXIT_ENTRY_SYMBOL = "metronome_vm_exit"


def symbols(elf):
    """[(address, name)] of the functions in the unrelocated image, sorted."""
    out = subprocess.run(["nm", "-C", "--defined-only", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            syms.append((int(parts[0], 16), parts[2]))
    return sorted(syms)


def short(name):
    """The function's name without its parameter list."""
    anon = "(anonymous namespace)"
    return name.replace(anon, "{anon}").split("(")[0].replace("{anon}", anon)


def profile(trace_lines, syms):
    """(total, [(function, instructions)]) for the instructions from the first traced VM exit up
    to (not including) the next one. Addresses below the image are the guest's."""
    by_name = {name: addr for addr, name in syms}
    addrs = [a for a, _ in syms]
    counts = collections.Counter()
    base = None
    total = 0
    for line in trace_lines:
        m = TRACE_LINE.match(line)
        if not m:
            continue
        address = int(m.group(2), 16)
        if base is None:
            base = address - by_name[EXIT_ENTRY_SYMBOL]  # the trace starts at the exit stub
        elif address == base + by_name[EXIT_ENTRY_SYMBOL]:
            break
        offset = address - base
        if offset < 0:
            name = "(guest)"
        else:
            i = bisect.bisect_right(addrs, offset) - 1
            name = short(syms[i][1]) if i >= 0 else hex(address)
        counts[name] += 1
        total += 1
    return total, counts.most_common()


def run_profile(efi, elf, work_dir):
    work_dir = pathlib.Path(work_dir)
    config = bench.runs()["vmexit"]
    cmd = bochs.prepare(work_dir, efi, config, ips=bench.IPS)
    script = "vmexitbp\n" + "c\n" * EXITS_TO_SKIP + f"trace on\ns {TRACE_STEPS}\ntrace off\nquit\n"
    (work_dir / "profile.rc").write_text(script)
    cmd[cmd.index("cont.rc")] = "profile.rc"
    transcript = work_dir / "transcript.log"
    transcript.unlink(missing_ok=True)
    with open(work_dir / "bochs.out", "wb") as out:
        subprocess.run(cmd + ["-dbglog", transcript.name], cwd=work_dir, stdin=subprocess.DEVNULL,
                       stdout=out, stderr=subprocess.STDOUT, timeout=900)
    lines = transcript.read_text(errors="replace").splitlines()
    start = next(i for i, l in enumerate(lines) if l.strip() == "trace on")
    total, rows = profile(lines[start:], symbols(elf))
    if not any(name.endswith("handle_cpuid") for name, _ in rows):
        raise KeyError("the traced exit was not a CPUID exit")
    return total, rows


def table(total, rows):
    guest = dict(rows).get("(guest)", 0)
    out = [f"one CPUID exit traced from its VM exit to the next: {total - guest} root-mode "
           f"instructions (+ {guest} of the guest's loop); Bochs: 1 instruction = 1 TSC tick = "
           f"1 ns at ips=10^9"]
    for name, count in rows:
        out.append(f"  {count:6}  {100 * count / total:5.1f}%  {name}")
    return "\n".join(out)
