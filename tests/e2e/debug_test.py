#!/usr/bin/env python3
"""e2e: a scripted Bochs debugger session through `tools/metronome debug --break guest:b
--script`. It must stop on guest b's first instruction (its _start at 0x10000), single-step
the next instructions with the addresses and bytes objdump gives for builtin-guest.elf, then
continue to the first instruction of the exit handler (metronome_vm_exit, at the image base
found at run time) with exit reason 18 (VMCALL) in the VMCS and the VMCS's guest RIP on the
VMCALL in metronome_hypercall: the built-in runtime's first exit is its first console line."""
import pathlib
import subprocess
import sys
import time

from e2e_support import SKIP, SOURCE_DIR, Checks, arguments_with
from metronome_tool import bochs, debug_session, emulator, symbols

STEPS = 7
# Guest b gets a param that guest a does not: RSI holds it at _start (guest/ABI.md), which
# tells that the session stopped in the guest debug_guest named.
PARAM_B = 1_000_000
CONFIG = f"""duration_ms = 20
slice_us = 5000
[guest a]
image = spin
[guest b]
image = spin
param = {PARAM_B}
"""
SCRIPT = ["r", f"u /{STEPS + 1} rip"] + ["s"] * STEPS + [
    f'lb "{debug_session.EXIT_SYMBOL}"', "c", "r",
    f'xp /1wx "vmcs" + {debug_session.vmcs_offset(debug_session.EXIT_REASON_FIELD):#x}',
    f'xp /1gx "vmcs" + {debug_session.vmcs_offset(debug_session.GUEST_RIP_FIELD):#x}',
    "quit"]
VMCALL_EXIT = 18


def extra(p):
    p.add_argument("--build-dir", type=pathlib.Path, required=True)


def check_steps(check, replies, expected):
    """The stop on _start, `u`, and each `s`, against objdump's instructions from _start."""
    landing = next((r for r in replies if r.command == "s"), None)  # the prologue's step
    if not check.expect(landing is not None and landing.locations(), "no stop in the guest"):
        return
    first = landing.locations()[-1]
    check.equal(first.linear, expected[0][0], "linear address of the first guest stop")
    check.equal(first.symbol, "guest._start+0", "symbol at the first guest stop")
    check.equal(first.bytes_hex, expected[0][1], "bytes of the guest's first instruction")
    after = replies[replies.index(landing) + 1:]
    registers = next((r.registers() for r in after if r.command == "r"), {})
    check.equal(registers.get("rip"), expected[0][0], "RIP in the guest")
    check.equal(registers.get("rsi"), PARAM_B, "RSI (guest b's param) at _start")
    listing = next((r.disassembly() for r in after if r.command.startswith("u /")), [])
    check.equal([(d.linear, d.bytes_hex, d.mnemonic.lower()) for d in listing],
                [(a, b, m.lower()) for a, b, m in expected],
                "`u` from _start against objdump")
    steps = [r for r in after if r.command == "s"][:STEPS]
    stepped = [r.locations()[-1].linear if r.locations() else None for r in steps]
    check.equal(stepped, [a for a, _, _ in expected[1:STEPS + 1]],
                "addresses after each single step")
    stepped_bytes = [r.locations()[-1].bytes_hex if r.locations() else None for r in steps]
    check.equal(stepped_bytes, [b for _, b, _ in expected[1:STEPS + 1]],
                "instruction bytes after each single step")


def check_exit(check, replies, base, exit_handler, vmcall):
    continues = [r for r in replies if r.command == "c"]
    stop = continues[-1] if continues else None
    if not check.expect(stop is not None and stop.locations(), "no stop after the last `c`"):
        return
    at = stop.locations()[-1]
    check.equal(at.linear, base + exit_handler, "RIP at the exit stop (base + metronome_vm_exit)")
    check.equal(at.symbol, debug_session.EXIT_SYMBOL + "+0", "symbol at the exit stop")
    memory = [r.memory() for r in replies if r.command.startswith("xp ")]
    check.equal(memory[0][:1] if memory else None, [VMCALL_EXIT], "exit reason in the VMCS")
    check.equal(memory[1][:1] if len(memory) > 1 else None, [vmcall],
                "guest RIP in the VMCS (the VMCALL in metronome_hypercall)")


def main():
    args = arguments_with(__doc__, default_timeout=200, extra=extra)
    if not bochs.available():
        print("bochs is not installed: skipped")
        return SKIP
    work = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    (work / "debug.cfg").write_text(CONFIG)
    (work / "debug.script").write_text("\n".join(SCRIPT) + "\n")
    transcript = work / "transcript.txt"
    cmd = [sys.executable, str(SOURCE_DIR / "tools" / "metronome"), "debug",
           str(work / "debug.cfg"),
           "--break", "guest:b", "--script", str(work / "debug.script"), "--efi", str(args.efi),
           "--work-dir", str(work), "--transcript", str(transcript),
           "--timeout", str(args.timeout)]
    print("$ " + " ".join(cmd), flush=True)
    start = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - start
    print(done.stderr)

    check = Checks()
    check.equal(done.returncode, 0, "tools/metronome debug exit status")
    text = transcript.read_text(errors="replace") if transcript.exists() else ""
    replies = debug_session.split_transcript(text, (work / "session.rc").read_text().splitlines())
    so = args.efi.with_suffix(".so")
    guest = args.build_dir / "guest" / "builtin-guest.elf"
    hypervisor = symbols.elf_table(so)
    base = next((r.value() for r in replies if r.command.startswith("? rip")), None)
    vmcs = next((r.value() for r in replies if r.command == '? "vmcs"'), None)
    if check.expect(base is not None, "the image base was not printed at the first stop"):
        check.equal(base % 4096, 0, "image base alignment")
        check.expect(vmcs is not None and vmcs % 4096 == 0, f"VMCS address {vmcs} (4 KiB aligned)")
        entry = symbols.address_of(symbols.elf_table(guest, "guest."), "guest._start")
        check_steps(check, replies, symbols.disassemble(guest, entry, STEPS + 1))
        check_exit(check, replies, base, symbols.address_of(hypervisor, debug_session.EXIT_SYMBOL),
                   symbols.instruction_address(guest, "metronome_hypercall", "vmcall"))
    result = emulator.RunResult(platform="bochs debugger", lines=[], ended=False,
                                timed_out=False, exit_status=done.returncode, wall_seconds=wall,
                                work_dir=work, serial_path=work / "serial.txt",
                                output_path=work / "bochs.out")
    if check.failures:
        print("--- transcript:\n" + text[-6000:])
    return check.finish(result)


if __name__ == "__main__":
    sys.exit(main())
