"""Where things are: the repository, its default build folder, firmware files."""
import pathlib
import re

TOOLS_DIR = pathlib.Path(__file__).resolve().parent.parent
SOURCE_DIR = TOOLS_DIR.parent
DEFAULT_BUILD_DIR = SOURCE_DIR / "build"  # the `default` CMake preset's binaryDir
BOCHSRC_TEMPLATE = TOOLS_DIR / "bochsrc.in"

# Debian's packages: ovmf, vgabios/bochsbios.
OVMF_CODE = pathlib.Path("/usr/share/ovmf/OVMF.fd")
BOCHS_VGABIOS = pathlib.Path("/usr/share/bochs/VGABIOS-lgpl-latest")

EFI_TARGET = "metronome-efi"
EFI_NAME = "metronome.efi"


def efi_image(build_dir: pathlib.Path) -> pathlib.Path:
    return pathlib.Path(build_dir) / EFI_NAME


GUEST_LIMIT_HEADER = SOURCE_DIR / "vmx" / "lib" / "guest_limit.hpp"


def max_guests() -> int:
    """vmx::max_guests, read from its one definition (vmx/lib/guest_limit.hpp)."""
    m = re.search(r"max_guests\s*=\s*(\d+)\s*;", GUEST_LIMIT_HEADER.read_text())
    if m is None:
        raise RuntimeError(f"{GUEST_LIMIT_HEADER}: no max_guests")
    return int(m.group(1))
