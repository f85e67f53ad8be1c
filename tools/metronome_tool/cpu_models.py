"""The Intel CPU models Bochs 2.7 emulates (`cpu: model=` names) and what Metronome does on each:
runs (with which fallbacks), or refuses before VMXON, or never starts because OVMF cannot.

Every row was found by booting the model (`tools/metronome run --cpu MODEL`), and each is an
end-to-end test (`e2e: bochs cpu MODEL`, tests/e2e/cpu_model_test.py) that boots it again and
checks the row: the capability MSRs against tests/data/vmx-caps/bochs-2.7-MODEL.txt, what the
capability report says is lacking, and then either the shares of four spinning guests or the
refusal. The README's CPU-model table is this list.
"""
import dataclasses

RUNS = "runs"
REFUSED = "refused before VMXON"
NO_VMX = "no VMX: says so, runs nothing"
NO_LONG_MODE = "OVMF cannot start (32-bit CPU)"


@dataclasses.dataclass(frozen=True)
class Model:
    name: str                  # Bochs' `cpu: model=` name
    brand: str                 # what the emulated CPU calls itself (CPUID brand string)
    outcome: str               # RUNS, REFUSED, NO_VMX or NO_LONG_MODE
    lacks: tuple = ()          # METRONOME-CAPS "lacks": required, so it is refused
    lacks_optional: tuple = ()  # METRONOME-CAPS "lacks_optional": the fallbacks it runs with
    idle: str = ""             # the report's platform.idle_method when it runs

    @property
    def caps_file(self):
        return f"vmx-caps/bochs-2.7-{self.name}.txt"

    @property
    def has_vmx(self):
        return self.outcome in (RUNS, REFUSED)


MWAIT_DEADLINE = "mwait C1 (break on masked interrupts) woken by the local APIC TSC deadline"
# Nehalem and Westmere have no TSC-deadline timer: the CPU idles in a PAUSE loop instead.
PAUSE_LOOP = "pause loop polling the TSC (no local APIC TSC-deadline timer)"

MODELS = [
    Model("core2_penryn_t9600", "Intel(R) Core(TM)2 Duo CPU     T9600  @ 2.80GHz", REFUSED,
          lacks=("preemption_timer", "ept"),
          lacks_optional=("save_preemption_timer", "unrestricted_guest", "vpid")),
    Model("corei5_lynnfield_750", "Intel(R) Core(TM) i5 CPU         750  @ 2.67GHz", RUNS,
          lacks_optional=("unrestricted_guest",), idle=PAUSE_LOOP),
    Model("corei5_arrandale_m520", "Intel(R) Core(TM) i5 CPU       M 520  @ 2.40GHz", RUNS,
          idle=PAUSE_LOOP),
    Model("corei7_sandy_bridge_2600k", "Intel(R) Core(TM) i7-2600K CPU @ 3.40GHz", RUNS,
          idle=MWAIT_DEADLINE),
    Model("corei7_ivy_bridge_3770k", "Intel(R) Core(TM) i7-3770K CPU @ 3.50GHz", RUNS,
          idle=MWAIT_DEADLINE),
    Model("corei7_haswell_4770", "Intel(R) Core(TM) i7-4770 CPU @ 3.40GHz", RUNS,
          idle=MWAIT_DEADLINE),
    Model("broadwell_ult", "Intel(R) Processor 5Y70 CPU @ 1.10GHz", RUNS, idle=MWAIT_DEADLINE),
    Model("corei7_skylake_x", "Intel(R) Core(TM) i7-7800X CPU @ 3.50GHz", RUNS,
          idle=MWAIT_DEADLINE),
    Model("corei3_cnl", "Intel(R) Core(TM) i3-8121U CPU @ 2.20GHz", RUNS, idle=MWAIT_DEADLINE),
    Model("corei7_icelake_u", "QuadCore Intel Core i7-1065G7, 1300 MHz", RUNS,
          idle=MWAIT_DEADLINE),
    Model("tigerlake", "11th Gen Intel(R) Core(TM) i5-1135G7 @ 2.40GHz", RUNS,
          idle=MWAIT_DEADLINE),
    Model("p4_prescott_celeron_336", "Intel(R) Celeron(R) CPU 2.80GHz", NO_VMX, lacks=("vmx",)),
    Model("atom_n270", "", NO_LONG_MODE),
]

BY_NAME = {m.name: m for m in MODELS}

# Bochs 2.7's other models: AMD CPUs (SVM, not VMX) and 32-bit Intel ones. Accepted by `--cpu`;
# metronome.efi says "VMX absent" on those that can start OVMF at all.
OTHER_BOCHS_MODELS = ("p2_klamath", "p3_katmai", "p4_willamette", "pentium", "pentium_mmx",
                      "athlon64_clawhammer", "athlon64_venice", "turion64_tyler",
                      "phenom_8650_toliman", "trinity_apu", "zambezi", "ryzen")


def idle_words(model):
    if model.outcome != RUNS:
        return "-"
    return "MWAIT + TSC deadline" if model.idle == MWAIT_DEADLINE else "PAUSE loop"


def table():
    """The rows for `tools/metronome run --cpu list` and the README."""
    rows = [("model", "Metronome", "lacks (optional ones in brackets)", "idle")]
    for m in MODELS:
        lacking = ", ".join(m.lacks + tuple(f"[{n}]" for n in m.lacks_optional)) or "-"
        rows.append((m.name, m.outcome, lacking, idle_words(m)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
