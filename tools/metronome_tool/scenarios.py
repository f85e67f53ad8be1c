"""Named configurations: the seed thread's scenario (the README's main job) and the end-to-end
experiments. Each is plain metronome.cfg text, so `tools/metronome run FILE` can replay it.

All run for 300 ms with 1 ms slices: 300 slices in all, so a 0.5-point tolerance is more than
one slice's worth of rounding (1/300 = 0.33 points) and still tight."""

from . import linux_image

BENCH_IPS = 1_000_000_000  # one emulated instruction = 1 ns of TSC time: switching costs at a
                           # realistic scale (~0.1% of a 1 ms slice instead of 1.6% at 50 MHz)


def _config(policy, yield_on_hlt, guests, duration_ms=300, slice_us=1000, extra=""):
    lines = [f"duration_ms = {duration_ms}", f"slice_us = {slice_us}", f"policy = {policy}",
             f"yield_on_hlt = {yield_on_hlt}", "on_finish = shutdown"]
    if extra:
        lines.append(extra)
    for name, image, keys in guests:
        lines.append(f"[guest {name}]")
        lines.append(f"image = {image}")
        lines.extend(f"{k} = {v}" for k, v in keys.items())
    return "\n".join(lines) + "\n"


# The thread: "4 guests on a CPU ... if one guest is idle, you'll get something like 1% 32% 33%
# 32%" with HLT trapped (KVM's default), "each will get ~25%" without.
SEED_GUESTS = [("a", "spin", {}), ("b", "spin", {}), ("c", "spin", {}),
               ("idle", "idle", {"tick_hz": 100})]


def seed(yield_on_hlt):
    return _config("shared", yield_on_hlt, SEED_GUESTS)


# Returns to the firmware instead of shutting down: the test checks that OVMF's boot manager
# goes on after metronome.efi (VMXOFF, CR4, GDT, interrupt masks and TPL all restored).
RETURN_TO_FIRMWARE = _config("fixed", 1, [("a", "spin", {}), ("b", "idle", {"tick_hz": 1000})],
                             duration_ms=20).replace("on_finish = shutdown", "on_finish = return_to_firmware")

# VMXON itself fails (test-only switch: a wrong revision identifier in the VMXON region); the
# test checks that nothing ran, the error is in words, and the machine went back unchanged.
VMXON_FAILURE = RETURN_TO_FIRMWARE.replace("policy = fixed", "policy = fixed\ntest_fail_vmxon = 1")

# Linux guests: Debian's kernel (linux_image.py) running the /init workload `run` (spin, idle,
# sleep, panic, shell). The kernel programs its own timer (tick_hz = 0: no virtual tick).
LINUX_MEMORY_MIB = 128


def linux_guest(name, run):
    return (f"[guest {name}]\nkernel = {linux_image.CONFIG_KERNEL}\ninitrd = {linux_image.CONFIG_INITRD}\n"
            f"memory_mib = {LINUX_MEMORY_MIB}\ntick_hz = 0\ncmdline = {linux_image.guest_cmdline(run)}\n")


def linux_config(policy, yield_on_hlt, runs, extra="", measure_ms=300):
    """Kernels [(name, run)] measured over `measure_ms` once all are ready (their boots, a few
    seconds of emulated time each at a share of the CPU, come first: duration_ms only bounds it)."""
    head = (f"duration_ms = 60000\nmeasure_ms = {measure_ms}\npolicy = {policy}\nslice_us = 1000\n"
            f"yield_on_hlt = {yield_on_hlt}\non_finish = shutdown\n{extra}")
    return head + "".join(linux_guest(name, run) for name, run in runs)


# The thread's scenario with four kernels: three spin, one wakes at 100 Hz in Linux's idle loop.
LINUX_SEED_GUESTS = [("a", "spin"), ("b", "spin"), ("c", "spin"), ("idle", "idle")]


def linux_seed(yield_on_hlt):
    return linux_config("shared", yield_on_hlt, LINUX_SEED_GUESTS)


SCENARIOS = {
    "seed-yield1": seed(1),
    "seed-yield0": seed(0),
    "four-spin": _config("shared", 0, [(n, "spin", {}) for n in "abcd"]),
    "exitstorm-neighbour": _config("shared", 0, [("a", "spin", {}), ("b", "spin", {}),
                                                 ("c", "spin", {}), ("storm", "exitstorm", {})]),
    # crash after 10 ticks (100 ms), powerdown after 5 ticks (50 ms); under `shared` the
    # default on_guest_exit is reclaim, so the two spinners then share the CPU.
    "crash-powerdown": _config("shared", 0, [("a", "spin", {}), ("b", "spin", {}),
                                             ("crash", "crash", {"tick_hz": 100, "param": 10}),
                                             ("off", "powerdown", {"tick_hz": 100, "param": 5})]),
    "return-to-firmware": RETURN_TO_FIRMWARE,
    "vmxon-failure": VMXON_FAILURE,
}
