"""Symbol tables for the Bochs debugger, made from the ELF files the build leaves beside
metronome.efi (metronome.so, guest/builtin-guest.elf).

Bochs' `ldsym global "FILE" OFFSET` reads one `HEXADDR NAME` per line and adds OFFSET to every
address; names cannot contain blanks. Bochs keeps one name per address (the first one loaded) and
looks names up for `lb "NAME"` and in expressions. So each address gets one name here, chosen to
be what a person would type: demangled C++ without the parameter list (`vmx::run_guests`), with
`(anonymous namespace)` written `{anon}`; the second overload of a name keeps its mangled name.
Guest symbols get a prefix (`guest._start`): the guest runtime has its own `_start`, `memcpy`...
"""
import re
import subprocess

_KEPT_TYPES = set("TtWwDdBbRrVv")  # code and data; not absolute (A), not undefined (U)


class SymbolError(RuntimeError):
    pass


def _run(cmd, stdin=None):
    try:
        done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
    except OSError as e:
        raise SymbolError(f"cannot run {cmd[0]}: {e.strerror}") from e
    if done.returncode != 0:
        raise SymbolError(f"{' '.join(str(c) for c in cmd)} failed: {done.stderr.strip()}")
    return done.stdout


def parse_nm(text):
    """[(address, type, name)] from `nm --defined-only` output, code and data only."""
    out = []
    for line in text.splitlines():
        parts = line.split(None, 2)
        if len(parts) != 3 or parts[1] not in _KEPT_TYPES:
            continue
        try:
            out.append((int(parts[0], 16), parts[1], parts[2]))
        except ValueError:
            continue
    return out


def short_name(demangled):
    """`vmx::hw::(anonymous namespace)::load_msrs(vmx::hw::HwGuest const&, bool)` ->
    `vmx::hw::{anon}::load_msrs`: something one can type inside quotes at the Bochs prompt."""
    name = demangled.replace("(anonymous namespace)", "{anon}")
    depth = 0
    for i, c in enumerate(name):
        if c == "<":
            depth += 1
        elif c == ">":
            depth = max(0, depth - 1)
        elif c == "(" and depth == 0 and i > 0 and not name[:i].endswith("operator"):
            name = name[:i]
            break
    return re.sub(r"\s+", "", name)


def _preference(entry):
    """Sort key among names of one address: global before local, then names without a leading
    underscore (`_start` over `__image_start`), then the shorter."""
    _, kind, name = entry
    return (kind.islower(), name.startswith("__"), name.startswith("_"), len(name), name)


def table(entries, demangled, prefix=""):
    """[(address, bochs_name)]: one name per address, unique names, sorted by address.
    `demangled` maps each raw name to its demangled form."""
    by_address = {}
    for entry in entries:
        by_address.setdefault(entry[0], []).append(entry)
    out, used = [], set()
    for address in sorted(by_address):
        _, _, raw = min(by_address[address], key=_preference)
        name = prefix + short_name(demangled.get(raw, raw))
        if name == prefix or name in used:
            name = prefix + raw
        used.add(name)
        out.append((address, name))
    return out


def demangle(names):
    """{raw: demangled} through c++filt (one name a line, same order)."""
    names = list(names)
    if not names:
        return {}
    lines = _run(["c++filt"], stdin="\n".join(names) + "\n").splitlines()
    if len(lines) != len(names):
        raise SymbolError("c++filt returned a different number of names")
    return dict(zip(names, lines))


def elf_table(elf, prefix=""):
    entries = parse_nm(_run(["nm", "--defined-only", str(elf)]))
    return table(entries, demangle(e[2] for e in entries), prefix)


def write(path, rows):
    path.write_text("".join(f"{address:016x} {name}\n" for address, name in rows))


def address_of(rows, name):
    for address, row_name in rows:
        if row_name == name:
            return address
    raise SymbolError(f"no symbol {name!r}")


def instruction_address(elf, symbol, mnemonic):
    """Address of the first `mnemonic` instruction inside `symbol` (objdump's disassembly):
    e.g. the VMLAUNCH in metronome_vm_enter, which has no label of its own."""
    text = _run(["objdump", "-d", "--no-show-raw-insn", f"--disassemble={symbol}", str(elf)])
    for line in text.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s+(\S+)", line)
        if m and m.group(2) == mnemonic:
            return int(m.group(1), 16)
    raise SymbolError(f"no {mnemonic} instruction in {symbol} ({elf})")


def disassemble(elf, start, count):
    """The first `count` instructions from `start`: [(address, bytes_hex, mnemonic)], Intel
    syntax (the syntax Bochs prints)."""
    text = _run(["objdump", "-d", "-M", "intel", "--start-address", hex(start),
                 "--stop-address", hex(start + 16 * count), str(elf)])
    out = []
    for line in text.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s+((?:[0-9a-f]{2} )+)\s*(\S+)?", line)
        if not m:
            continue
        raw = m.group(2).replace(" ", "")
        if m.group(3) is None and out:  # objdump continues long encodings on a second line
            address, before, mnemonic = out[-1]
            out[-1] = (address, before + raw, mnemonic)
            continue
        out.append((int(m.group(1), 16), raw, m.group(3)))
    return out[:count]
