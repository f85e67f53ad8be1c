#!/usr/bin/env python3
"""`metronome run --file ESP_PATH=HOST_PATH`: the pure parts (no emulator, no mtools): ESP paths
as the configuration spells them, and the refusals of malformed options."""
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
from metronome_tool import esp  # noqa: E402

failures = []


def expect(condition, what):
    if not condition:
        failures.append(what)


def refused(function, *args):
    try:
        function(*args)
    except esp.EspError:
        return True
    return False


expect(esp.esp_path("\\guests\\hello.elf") == "guests/hello.elf", "backslash path")
expect(esp.esp_path("guests/hello.elf") == "guests/hello.elf", "forward-slash path")
expect(esp.esp_path("/a.elf") == "a.elf", "leading slash")
for bad in ("", "\\", "..\\x.elf", "guests\\\\x.elf", "guests/./x.elf"):
    expect(refused(esp.esp_path, bad), f"{bad!r} must be refused")
with tempfile.TemporaryDirectory() as d:
    host = pathlib.Path(d) / "g.elf"
    host.write_bytes(b"\x7fELF-bytes")
    expect(esp.parse_file_option(f"\\guests\\g.elf={host}") == ("guests/g.elf", b"\x7fELF-bytes"),
           "ESP_PATH=HOST_PATH reads the host file")
    expect(refused(esp.parse_file_option, f"\\guests\\g.elf={host}.missing"), "missing host file")
for bad in ("\\guests\\g.elf", "\\guests\\g.elf=", f"={__file__}"):
    expect(refused(esp.parse_file_option, bad), f"--file {bad!r} must be refused")

for f in failures:
    print(f"FAIL: {f}")
print("PASS" if not failures else f"{len(failures)} failures")
sys.exit(1 if failures else 0)
