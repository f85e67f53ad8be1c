"""What `tools/metronome peer kvm` runs inside the bare Linux in Bochs: the kvm-peer invocations
(one per Metronome figure or experiment it has an equivalent for), the kernel command line,
and the initramfs's /init script that loads KVM and runs them, once per L1D-flush setting.

Pure: no emulator here; tests/e2e/peer_kvm_test.py checks the script and the command lines.
"""
import dataclasses
import shlex

from . import bench

IPS = bench.IPS                 # the benchmarks' machine: 10^9 instructions per emulated second
CPU_MODEL = "corei7_skylake_x"  # bochs.DEFAULT_CPU, the benchmarks' model
MEGS = 256                      # bochs.write_bochsrc's default, the benchmarks' memory
WINDOW_MS = 300                 # the experiments' run length (experiments.DURATION_MS)
SWITCH_GUESTS = bench.SWITCH_GUESTS
GAP_THRESHOLD = 100             # TSC ticks: a spinner's loop takes 11 (tools/peer/guest.S)

# kvm_intel's vmentry_l1d_flush: `cond` is KVM's default (a software L1D flush of ~4,200
# instructions on the entry after an exit to userspace or a context switch, since Bochs has no
# L1D-flush MSR), `never` turns it off.
L1D_SETTINGS = ("cond", "never")

# Linux thinks this CPU's TSC runs at 3.5 GHz (the model string); Bochs' runs at ips.
# tsc_early_khz tells it the truth, so Linux's clock (CFS, schedstat, CLOCK_MONOTONIC, KVM's
# LAPIC timer) is the emulated clock: 1 ns = 1 instruction. tsc=reliable: no clocksource
# watchdog that could declare the TSC unstable (KVM would then move the guests' TSC offsets).
# nokaslr: the same addresses every boot, for repeatable runs.
KERNEL_CMDLINE = ("console=ttyS0,115200 earlyprintk=serial,ttyS0,115200 initrd=\\initrd.img "
                  f"rdinit=/init quiet nokaslr tsc_early_khz={IPS // 1000} tsc=reliable")

KVM_MODULES = ("irqbypass", "kvm", "kvm-intel")  # in load order
BUSYBOX_APPLETS = ("sh", "mount", "insmod", "rmmod", "cat", "grep", "dmesg", "uname", "tr",
                   "sleep", "ls")


@dataclasses.dataclass
class PeerRun:
    name: str         # exp2-hlt-exits, switch-16, vmexit
    args: list        # kvm-peer's arguments
    experiment: int = 0   # the Metronome experiment it mirrors (0: a bench figure)
    title: str = ""       # how the experiments table names it


def _share(name, vms, window_ms=WINDOW_MS):
    return ["share", "--label", name, "--window-ms", str(window_ms),
            "--gap-threshold", str(GAP_THRESHOLD)] + vms


SPINNERS = ["a:spin", "b:spin", "c:spin"]
IDLE = "idle:idle:hz=100:rounds=2000"   # Metronome's idle: 100 Hz tick, 2000 rounds per tick


def native_hlt(vms):
    return [v + ":hlt=native" for v in vms]


def switch_window_ms(guests):
    """CFS gives each spinner one 4 ms tick (HZ = 250) per turn: the window holds at least 3
    turns of every VM, so that switches other than each VM's first entry can be counted."""
    return max(WINDOW_MS, 12 * guests)


def runs():
    """Every kvm-peer run, in the order /init runs them (for each L1D setting)."""
    out = [PeerRun("vmexit", ["vmexit", "--iterations", str(bench.VMEXIT_ITERATIONS)])]
    four = SPINNERS + ["d:spin"]
    out += [
        PeerRun("exp1-cfs", _share("exp1-cfs", four), 1, "CFS"),
        PeerRun("exp1-capped", _share("exp1-capped", [v + ":cap=5000/10000" for v in four]), 1,
                "CFS, cpu.max 50%/10 ms"),
        PeerRun("exp2-hlt-exits", _share("exp2-hlt-exits", SPINNERS + [IDLE]), 2,
                "CFS, HLT exits (KVM default)"),
        PeerRun("exp2-hlt-native", _share("exp2-hlt-native", native_hlt(SPINNERS + [IDLE])), 2,
                "CFS, HLT in guest (DISABLE_EXITS)"),
        PeerRun("exp3-fifth", _share("exp3-fifth", four + ["light:bursty:hz=100:percent=5"]), 3,
                "CFS, HLT exits"),
        PeerRun("exp4-crash", _share("exp4-crash", SPINNERS + ["dies:crash:hz=100:ticks=2"]), 4,
                "CFS (the others take its share)"),
        PeerRun("exp5-capped", _share("exp5-capped", ["a:spin:cap=2500/10000",
                                                      "b:spin:cap=2500/10000"]), 5,
                "CFS, cpu.max 25%/10 ms"),
    ]
    for n in SWITCH_GUESTS:
        name = f"switch-{n}"
        out.append(PeerRun(name, _share(name, [f"g{i}:spin" for i in range(n)],
                                        switch_window_ms(n))))
    return out


def select(names=None):
    """The runs named (all when None); unknown names raise ValueError."""
    every = runs()
    if not names:
        return every
    known = {r.name for r in every}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown peer run(s) {', '.join(unknown)}; runs: {', '.join(sorted(known))}")
    return [r for r in every if r.name in names]


KVM_INTEL_PARAMS = ("vmentry_l1d_flush", "enable_apicv", "preemption_timer", "ept", "vpid",
                    "flexpriority", "unrestricted_guest", "pml", "enable_shadow_vmcs")
KVM_PARAMS = ("halt_poll_ns", "tdp_mmu", "lapic_timer_advance_ns", "enable_pmu")


def init_script(selected, settings=L1D_SETTINGS):
    """The initramfs's /init (busybox sh). Everything it prints goes to port 0xE9 through
    `kvm-peer e9`; each run is framed by PEER-KVM-RUN-BEGIN / -END lines; PEER-KVM-INFO lines
    say what the kernel and KVM are; PEER-KVM-END comes last; then Bochs is shut down."""
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        "# Written by tools/metronome peer kvm (tools/metronome_tool/peer_runs.py).",
        "export PATH=/bin",
        "mount -t proc proc /proc",
        "mount -t sysfs sysfs /sys",
        "mount -t devtmpfs devtmpfs /dev",
        "mount -t cgroup2 cgroup2 /sys/fs/cgroup",
        "echo 'peer: /init started; output goes to port 0xE9' > /dev/console",
        'info() { echo "PEER-KVM-INFO $1=$2"; }',
        "param() { cat /sys/module/$1/parameters/$2 2>/dev/null || echo '(none)'; }",
        "load_kvm_intel() {",
        "  rmmod kvm_intel 2>/dev/null",
        "  insmod /lib/modules/kvm-intel.ko vmentry_l1d_flush=$1 || "
        "{ echo \"PEER-KVM-ERROR insmod kvm-intel.ko vmentry_l1d_flush=$1 failed\"; return 1; }",
        "  for p in " + " ".join(KVM_INTEL_PARAMS) + "; do "
        "info \"$1.kvm_intel.$p\" \"$(param kvm_intel $p)\"; done",
        "}",
        "run() {",
        "  setting=$1; name=$2; shift 2",
        '  echo "PEER-KVM-RUN-BEGIN $setting $name uptime=$(cat /proc/uptime)"',
        '  /bin/kvm-peer "$@"; rc=$?',
        '  echo "PEER-KVM-RUN-END $setting $name rc=$rc uptime=$(cat /proc/uptime)"',
        "}",
        "main() {",
        '  info kernel "$(uname -r)"',
        '  info cmdline "$(cat /proc/cmdline)"',
        '  info cpu "$(grep -m1 "model name" /proc/cpuinfo | tr -s " \\t" " ")"',
        '  info cpus "$(grep -c ^processor /proc/cpuinfo)"',
        '  info uptime_at_init "$(cat /proc/uptime)"',
        "  for v in /sys/devices/system/cpu/vulnerabilities/*; do "
        'info "vulnerability.${v##*/}" "$(cat $v)"; done',
        "  insmod /lib/modules/irqbypass.ko && insmod /lib/modules/kvm.ko || "
        "{ echo 'PEER-KVM-ERROR insmod of irqbypass.ko or kvm.ko failed'; return 1; }",
        "  for p in " + " ".join(KVM_PARAMS) + "; do info \"kvm.$p\" \"$(param kvm $p)\"; done",
    ]
    for setting in settings:
        lines.append(f"  load_kvm_intel {q(setting)} || return 1")
        for r in selected:
            lines.append(f"  run {q(setting)} {q(r.name)} " + " ".join(q(a) for a in r.args))
    lines += [
        '  info clocksource "$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"',
        "  dmesg | grep -E 'tsc|clocksource|TSC|kvm|L1TF|KVM' | while read -r l; do "
        'info dmesg "$l"; done',
        '  info uptime_at_end "$(cat /proc/uptime)"',
        "  echo PEER-KVM-END",
        "}",
        "main 2>&1 | /bin/kvm-peer e9",
        "echo 'peer: done, shutting Bochs down' > /dev/console",
        "/bin/kvm-peer shutdown",
        "",
    ]
    return "\n".join(lines)
