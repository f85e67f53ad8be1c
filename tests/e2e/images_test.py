#!/usr/bin/env python3
"""e2e: guest images from the ESP, and input that must never reach VMX.

--case elf:        the ABI example build/guest/hello.elf, put on the ESP as \\guests\\hello.elf,
                   and the built-in image's ELF (three segments, a .bss) as \\guests\\spin.elf
                   run beside two built-in spinners and a guest whose VMCS carries the test-only
                   corrupt guest state (test_corrupt_guest_state = 1): hello prints its two lines
                   and powers down cleanly; spin.elf spins like the built-in spinners; the corrupt
                   guest is stopped with exit reason 33 and the decoded qualification; every
                   spinner runs on with its share untouched.
--case bad-elf:    a truncated copy of hello.elf is refused with one METRONOME-ERROR line naming
                   the guest, the file and the problem; VMX is never entered, no guest runs.
--case bad-memory: eight guests of 256 MiB in a 256 MiB machine: one error naming the guest, the
                   key and both sizes, before anything is allocated;
--case directory:  a directory named as an image: one error saying so;
--case bad-config: an out-of-range value gets one METRONOME-ERROR line with line and key; VMX is
                   never entered.
"""
import pathlib
import sys

from e2e_support import SKIP, Checks, arguments_with
from metronome_tool import bochs, config, report, scenarios, serial_log

VMX_LINE = "entering VMX root operation"  # vmx/hw/session.cpp's log line just before VMXON
TOLERANCE = 0.5  # percentage points, as the scenario tests

ELF_CONFIG = """duration_ms = 200
policy = fixed
on_finish = shutdown
[guest hello]
image = \\guests\\hello.elf
[guest broken]
image = spin
test_corrupt_guest_state = 1
[guest a]
image = spin
[guest b]
image = spin
[guest file]
image = \\guests\\spin.elf
"""

BAD_ELF_CONFIG = """on_finish = shutdown
[guest a]
image = spin
[guest bad]
image = \\guests\\bad.elf
"""

BAD_CONFIG = """on_finish = shutdown
[guest a]
image = spin
slice_us = 5
"""


# Eight guests of 256 MiB in Bochs' 256 MiB machine: refused before anything is allocated.
BAD_MEMORY_CONFIG = "on_finish = shutdown\nmemory_mib = 256\n" + "".join(
    f"[guest g{i}]\nimage = spin\n" for i in range(8))

# A guest image named as a Linux kernel: an ELF for x86-64, but linked at 0x10000, not where a
# kernel goes (at least 1 MiB, 2 MiB aligned).
BAD_KERNEL_CONFIG = """on_finish = shutdown
[guest a]
image = spin
[guest k]
kernel = \\guests\\hello.elf
tick_hz = 0
memory_mib = 64
"""

# A directory named as a guest image.
DIRECTORY_CONFIG = """on_finish = shutdown
[guest a]
image = spin
[guest dir]
image = \\guests
"""


def no_vmx(check, result):
    # boot/ refuses before it starts the hypervisor (boot/hypervisor_run.cpp prints "TSC: ..."
    # first), not only before VMXON.
    check.expect(not any(line.startswith("TSC: ") for line in result.lines), "the hypervisor was started")
    check.expect(not any(VMX_LINE in line for line in result.lines), f"a '{VMX_LINE}' line: VMX was entered")
    check.expect(not any(line.startswith(report.MARKER) for line in result.lines), "a report: guests ran")
    check.expect(not any(line.startswith("[") for line in result.lines), "guest console lines: guests ran")


def case_elf(check, result):
    lines = result.lines
    check.expect(any(line.startswith("Guest image \\guests\\hello.elf for guest hello: ") and
                     line.endswith("1 loadable segments, entry 0x10000") for line in lines),
                 "no 'Guest image \\guests\\hello.elf ... entry 0x10000' line")
    check.expect(any(line.startswith("Guest image \\guests\\spin.elf for guest file: ") and
                     line.endswith("3 loadable segments, entry 0x10000") for line in lines),
                 "no 'Guest image \\guests\\spin.elf ... 3 loadable segments' line")
    check.expect("[hello] hello from port 0xE9" in lines, "hello's port 0xE9 line")
    check.expect("[hello] hello from hypercall 2" in lines, "hello's hypercall line")
    check.equal(serial_log.errors(lines), [], "METRONOME-ERROR lines")
    try:
        rep = report.parse(lines)
    except ValueError as e:
        check.expect(False, f"report: {e}")
        return
    check.equal(report.totals_problems(rep), [], "report totals")
    g = {x["name"]: x for x in rep["guests"]}
    check.equal(g["hello"]["exit_reason"], "powerdown", "hello's ending")
    check.equal(g["hello"]["exit_code"], 0, "hello's powerdown code")
    check.equal(g["hello"]["progress"], 1, "hello's progress counter")
    broken = g["broken"]
    check.equal(broken["exit_reason"], "entry_failure", "the corrupt guest's ending")
    check.equal(broken["state"], "exited", "the corrupt guest's state")
    detail = broken.get("exit_detail", "")
    check.expect("VM-entry failure due to invalid guest state" in detail and
                 "a guest-state check failed" in detail,
                 f"the corrupt guest's stop must name exit reason 33 and its qualification: {detail!r}")
    check.equal(broken["exits"].get("entry_failure_guest_state", 0), 1, "exit reason 33 count")
    check.equal(broken["progress"], 0, "the corrupt guest never ran an instruction")
    check.expect("[file] spin: started, a line every 67108864 iterations" in lines, "spin.elf's first line")
    for name in ("a", "b", "file"):
        check.equal(g[name]["state"], "running", f"{name} at the end")
        check.expect(g[name]["progress"] > 0, f"{name} made no progress")
        got = report.share(g[name])
        # fixed, reserve: five slots whatever happens to the neighbours.
        check.expect(abs(got - 20) <= TOLERANCE, f"{name}: {got:.2f}% of the CPU, expected 20% ± {TOLERANCE}")


def case_bad_elf(check, result):
    errors = serial_log.errors(result.lines)
    check.equal(errors, ["guest bad: image \\guests\\bad.elf: program headers (offset 0x40, 3 entries) "
                         "lie outside the 100-byte file"], "the one error line")
    no_vmx(check, result)


def case_bad_config(check, result):
    errors = serial_log.errors(result.lines)
    check.equal(len(errors), 1, "METRONOME-ERROR lines")
    check.expect(bool(errors) and errors[0].startswith("metronome.cfg:4: ") and "slice_us" in errors[0],
                 f"the error must name line 4 and the key slice_us: {errors}")
    no_vmx(check, result)


def case_bad_memory(check, result):
    errors = serial_log.errors(result.lines)
    check.equal(len(errors), 1, "METRONOME-ERROR lines")
    words = errors[0] if errors else ""
    check.expect(words.startswith("metronome.cfg:2: key 'memory_mib': guest g0: its 256 MiB must be one "
                                  "range of memory, and the largest the firmware has free is "),
                 f"the error must name the line, the key, the guest and both sizes: {words!r}")
    check.expect(words.endswith(" MiB"), f"the free size: {words!r}")
    no_vmx(check, result)


def case_bad_kernel(check, result):
    errors = serial_log.errors(result.lines)
    check.equal(len(errors), 1, "METRONOME-ERROR lines")
    words = errors[0] if errors else ""
    check.expect(words.startswith("guest k: kernel \\guests\\hello.elf: "),
                 f"the error must name the guest, the key and the file: {words!r}")
    no_vmx(check, result)


def case_directory(check, result):
    errors = serial_log.errors(result.lines)
    check.equal(errors, ["guest dir: image \\guests: is a directory, not a file"], "the one error line")
    no_vmx(check, result)


def main():
    args = arguments_with(__doc__, default_timeout=300, extra=lambda p: (
        p.add_argument("--case", required=True, choices=["elf", "bad-elf", "bad-config", "bad-memory", "bad-kernel",
                                                         "directory"]),
        p.add_argument("--hello", type=pathlib.Path, required=True, help="build/guest/hello.elf"),
        p.add_argument("--builtin-elf", type=pathlib.Path, required=True,
                       help="build/guest/builtin-guest.elf")))
    if not bochs.available():
        print("bochs is not installed: skipped")
        return SKIP
    hello = args.hello.read_bytes()
    if args.case == "elf":
        result = bochs.run(args.efi, ELF_CONFIG, args.work_dir, timeout=args.timeout,
                           ips=scenarios.BENCH_IPS, progress=False,
                           files={"guests/hello.elf": hello,
                                  "guests/spin.elf": args.builtin_elf.read_bytes()})
    elif args.case == "bad-elf":
        result = bochs.run(args.efi, BAD_ELF_CONFIG, args.work_dir, timeout=args.timeout,
                           progress=False, files={"guests/bad.elf": hello[:100]})
    elif args.case == "bad-memory":
        # The machine the benchmarks use (256 MiB), not one sized for these guests: they must not fit.
        result = bochs.run(args.efi, BAD_MEMORY_CONFIG, args.work_dir, timeout=args.timeout, progress=False,
                           megs=config.DEFAULT_MEGS)
    elif args.case == "bad-kernel":
        result = bochs.run(args.efi, BAD_KERNEL_CONFIG, args.work_dir, timeout=args.timeout,
                           progress=False, files={"guests/hello.elf": hello})
    elif args.case == "directory":
        result = bochs.run(args.efi, DIRECTORY_CONFIG, args.work_dir, timeout=args.timeout,
                           progress=False, files={"guests/hello.elf": hello})
    else:
        result = bochs.run(args.efi, BAD_CONFIG, args.work_dir, timeout=args.timeout, progress=False)
    check = Checks()
    check.expect(result.ended, "no METRONOME-END line")
    {"elf": case_elf, "bad-elf": case_bad_elf, "bad-config": case_bad_config,
     "bad-memory": case_bad_memory, "bad-kernel": case_bad_kernel,
     "directory": case_directory}[args.case](check, result)
    return check.finish(result)


if __name__ == "__main__":
    sys.exit(main())
