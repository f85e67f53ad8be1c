"""testdata/vmx-caps/*.txt: one `IA32_VMX_NAME=0xHEX` per line, `#` comments."""
import pathlib


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
