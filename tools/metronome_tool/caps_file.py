"""Capability files (tests/data/vmx-caps/*.txt): one `IA32_VMX_NAME=0xHEX` per line, `#`
comments; the first comment lines say where the values come from. `write` makes one from the
METRONOME-CAPS line of a real boot (`tools/metronome run --cpu MODEL --save-caps FILE`)."""
import pathlib

# The Debian package whose Bochs the files named bochs-2.7-*.txt were read on.
BOCHS_PACKAGE = "Debian bookworm package 2.7+dfsg-4+deb12u1"


def load(path):
    """Returns {MSR name: int value}."""
    values = {}
    for number, line in enumerate(pathlib.Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path}:{number}: expected NAME=VALUE")
        values[name.strip()] = int(value.strip(), 16)
    return values


def from_caps_line(caps):
    """{MSR name: int value} of a parsed METRONOME-CAPS object."""
    return {name: int(value, 16) for name, value in caps.get("msrs", {}).items()}


def text_for(caps, cpu_model, ips):
    """The capability file of one Bochs boot: its source, the CPU it reported, then the MSRs in
    the order metronome.efi read them."""
    leaf = caps.get("cpuid_15h")
    leaf_text = ("CPUID.15H: EAX={eax} EBX={ebx} ECX={ecx}".format(**leaf) if leaf
                 else "no CPUID.15H")
    lines = [f"# source: read with rdmsr by metronome.efi on Bochs 2.7 ({BOCHS_PACKAGE}), "
             f"cpu model {cpu_model}, booted through OVMF (tools/metronome run --cpu {cpu_model} "
             "--caps-only --save-caps FILE)",
             f"# cpu: {caps.get('brand', '')} (emulated; {leaf_text}; TSC advances one per "
             f"emulated instruction, {ips} Hz at ips={ips})"]
    lines += [f"{name}=0x{value:016x}" for name, value in from_caps_line(caps).items()]
    return "\n".join(lines) + "\n"


def write(path, caps, cpu_model, ips):
    pathlib.Path(path).write_text(text_for(caps, cpu_model, ips))
