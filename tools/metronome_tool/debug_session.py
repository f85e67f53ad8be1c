"""The pure parts of `metronome debug`: what a --break WHERE means, the configuration keys it
adds, the Bochs debugger commands that get there, and reading a transcript back.

How a session reaches WHERE (vmx/hw/debug_break.hpp has the hypervisor's side):
  stop 1  metronome.efi executes Bochs' magic breakpoint (`xchg bx, bx`) right after reading
          its configuration (debug_break = start or vmentry). RIP is then the image base plus
          the address of metronome_debug_break_stop in metronome.so, so
          `ldsym global "metronome.sym" rip - ADDR` loads the hypervisor's symbols where the
          firmware put the image; the guest's symbols (linked at 0x10000, identity-mapped in
          the guest) load at 0.
  stop 2  (debug_break = vmentry) a second magic breakpoint just before the first VM entry of
          debug_guest (or of the first guest): RSI holds that guest's VMCS address, which
          becomes the symbol "vmcs" (Bochs keeps the VMCS in memory: `xp` at "vmcs" + offset).
Then address breakpoints (`lb`) do the rest: the VMLAUNCH instruction, metronome_vm_exit, or a
symbol. A single step over VMLAUNCH lands on the guest's first instruction.
"""
import dataclasses
import re

HYPERVISOR_SYMBOLS = "metronome.sym"
GUEST_SYMBOLS = "guest.sym"
VMCS_SYMBOL_FILE = "vmcs.sym"
STOP_SYMBOL = "metronome_debug_break_stop"   # vmx/hw/debug_break.S
ENTRY_SYMBOL = "metronome_vm_enter"          # vmx/hw/vm_entry.S
EXIT_SYMBOL = "metronome_vm_exit"
GUEST_PREFIX = "guest."

# Bochs 2.7 keeps VMCS field ENC at 0x10 + (((ENC>>13)&3)<<2 | ((ENC>>10)&3))*64 + (ENC&0x3ff))*4
# from the VMCS address (its own layout, tools/PLATFORMS.md).
def vmcs_offset(encoding):
    width, kind = (encoding >> 13) & 3, (encoding >> 10) & 3
    return 0x10 + (((width << 2) | kind) * 64 + (encoding & 0x3FF)) * 4


EXIT_REASON_FIELD = 0x4402
GUEST_RIP_FIELD = 0x681E
KEYWORDS = ("start", "vmentry", "vmexit", "guest")


@dataclasses.dataclass
class Plan:
    where: str
    debug_break: str          # the configuration's debug_break
    debug_guest: str          # "" = the first guest entered
    symbol: str = ""          # a hypervisor symbol to stop at (--break SYMBOL)


def parse_where(where):
    """`start`, `vmentry[:NAME]`, `vmexit[:NAME]`, `guest[:NAME]` or a hypervisor symbol."""
    word, _, name = where.partition(":")
    if word in KEYWORDS and word != "start":
        if name and not re.fullmatch(r"[A-Za-z0-9_-]{1,31}", name):
            raise ValueError(f"{name!r} is not a guest name")
        return Plan(where, "vmentry", name)
    if where == "start":
        return Plan(where, "start", "")
    if not where or any(c.isspace() or c == '"' for c in where):
        raise ValueError(f"{where!r} is neither {', '.join(KEYWORDS)} nor a symbol name")
    return Plan(where, "start", "", symbol=where)


_GUEST_SECTION = re.compile(r"^[ \t]*\[[ \t]*guest[ \t]+([^\]\s#]+)[ \t]*\]", re.M)


def config_problem(text, plan):
    """Why the configuration cannot reach `plan`'s stop (None when it can): metronome.efi would
    report the mistake and run to the end without ever stopping a second time."""
    names = _GUEST_SECTION.findall(text)
    if plan.debug_break == "vmentry" and not names:
        return f"--break {plan.where} needs a guest: the configuration has no [guest NAME]"
    if plan.debug_guest and plan.debug_guest not in names:
        return (f"--break {plan.where}: no guest named {plan.debug_guest!r} in the "
                f"configuration (guests: {', '.join(names) or 'none'})")
    return None


_KEY = re.compile(r"^\s*(debug_break|debug_guest)\s*=")
_SECTION = re.compile(r"^\s*\[")


def with_debug_keys(text, plan):
    """The configuration with debug_break/debug_guest set for `plan`: lines that set them among
    the global keys become comments, the new ones go just before the first [section]."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    insert_at = len(lines)
    for i, line in enumerate(lines):
        if _SECTION.match(line):
            insert_at = i
            break
        if _KEY.match(line.split("#", 1)[0]):
            lines[i] = "# (replaced by tools/metronome debug) " + line
    added = [f"debug_break = {plan.debug_break}\n"]
    if plan.debug_guest:
        added.append(f"debug_guest = {plan.debug_guest}\n")
    return "".join(lines[:insert_at] + added + lines[insert_at:])


def prologue(plan, stop_address, launch_offset):
    """Debugger commands (a list of lines) that take the session from Bochs' first instruction
    to `plan`'s stop. `stop_address`: metronome_debug_break_stop in metronome.so;
    `launch_offset`: VMLAUNCH's offset in metronome_vm_enter."""
    rc = [
        "c",
        f'ldsym global "{HYPERVISOR_SYMBOLS}" rip - {stop_address:#x}',
        f'ldsym global "{GUEST_SYMBOLS}" 0',
        f"? rip - {stop_address:#x}",
    ]
    if plan.symbol:
        rc += [f'lb "{plan.symbol}"', "c"]
    if plan.debug_break != "vmentry":
        return rc
    rc += ["c", f'ldsym global "{VMCS_SYMBOL_FILE}" rsi', '? "vmcs"']
    word = plan.where.partition(":")[0]
    if word == "vmexit":
        return rc + [f'lb "{EXIT_SYMBOL}"', "c"]
    # Breakpoint 1 (the first one of the session): the VMLAUNCH instruction itself.
    rc += [f'lb "{ENTRY_SYMBOL}" + {launch_offset:#x}', "c", "d 1"]
    if word == "guest":
        rc.append("s")
    return rc


def vmcs_symbol_file():
    """The one-line symbol file that names the VMCS address "vmcs" when loaded at RSI."""
    return "0000000000000000 vmcs\n"


# One stop or step, as Bochs prints it:
#   (0) [0x00000dc54000] 0008:0000000000010000 (guest._start+0): cli      ; fa
_AT = re.compile(r"^\(\d+\)(?:\.\[\d+\])? \[0x([0-9a-f]+)\] [0-9a-f]{4}:([0-9a-f]+) "
                 r"\((.*?)\): (.*?)\s*; ([0-9a-f]+)\s*$")
_REGISTER = re.compile(r"^(r[a-z0-9]+)\s*: ([0-9a-f]{8})_([0-9a-f]{8})\s*$")
_MEMORY = re.compile(r"^0x([0-9a-f]+) <[^>]*>:\s+(.*)$")
_CALC = re.compile(r"^0x([0-9a-f]+) \d+\s*$")
# One line of `u`:  0000000000010000: (guest._start+0): cli                       ; fa
_DISASSEMBLY = re.compile(r"^([0-9a-f]+): \( ?(.*?)\): (.*?)\s*; ([0-9a-f]+)\s*$")


@dataclasses.dataclass
class Location:
    physical: int
    linear: int
    symbol: str      # "guest._start+0", "" when Bochs knows none
    text: str        # Bochs' disassembly, Intel syntax
    bytes_hex: str

    @property
    def mnemonic(self):
        return self.text.split()[0] if self.text else ""


@dataclasses.dataclass
class Reply:
    command: str
    lines: list

    def locations(self):
        return [Location(int(m.group(1), 16), int(m.group(2), 16), m.group(3).strip(),
                         m.group(4), m.group(5))
                for m in (_AT.match(line) for line in self.lines) if m]

    def disassembly(self):
        """The lines a `u` command printed (physical address unknown: 0)."""
        return [Location(0, int(m.group(1), 16), m.group(2).strip(), m.group(3), m.group(4))
                for m in (_DISASSEMBLY.match(line) for line in self.lines) if m]

    def registers(self):
        out = {}
        for line in self.lines:
            m = _REGISTER.match(line)
            if m:
                out[m.group(1)] = int(m.group(2) + m.group(3), 16)
        return out

    def memory(self):
        """The values an `x`/`xp` command printed, in order."""
        values = []
        for line in self.lines:
            m = _MEMORY.match(line)
            if m:
                values += [int(v, 16) for v in m.group(2).split()]
        return values

    def value(self):
        """What `? EXPR` printed."""
        for line in self.lines:
            m = _CALC.match(line)
            if m:
                return int(m.group(1), 16)
        return None


def split_transcript(text, commands):
    """Cuts a -dbglog transcript into one Reply per command. The transcript echoes each command
    on a line of its own, so the commands given (prologue + script, in order) are the markers."""
    lines = text.splitlines()
    replies, i = [Reply("", [])], 0
    pending = [c.strip() for c in commands if c.strip() and not c.strip().startswith("#")]
    for line in lines:
        if i < len(pending) and line.strip() == pending[i]:
            replies.append(Reply(pending[i], []))
            i += 1
        else:
            replies[-1].lines.append(line)
    return replies
