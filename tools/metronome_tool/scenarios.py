"""Named configurations: the seed thread's scenario (the README's main job) and the end-to-end
experiments. Each is plain metronome.cfg text, so `tools/metronome run FILE` can replay it.

All run for 300 ms with 1 ms slices: 300 slices in all, so a 0.5-point tolerance is more than
one slice's worth of rounding (1/300 = 0.33 points) and still tight."""

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
