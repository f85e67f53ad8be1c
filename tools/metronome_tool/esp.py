"""The EFI system partition image: a whole-disk FAT file system (no partition table; OVMF's boot
manager finds \\EFI\\BOOT\\BOOTX64.EFI on it) built with mtools, so no root and no loop devices.
"""
import os
import pathlib
import subprocess

# Cylinders of 16 heads x 63 sectors: Bochs derives a CHS geometry from a flat image's size, so
# a whole number of cylinders avoids data "outside of CHS address range". At least 65 (about
# 32 MiB, FAT16), and more when the files need it (a Linux kernel is ~66 MB): their size plus a
# quarter for the file system, at most 4095 cylinders (~2 GiB, FAT16's and Bochs' CHS limit).
_HEADS = 16
_SECTORS_PER_TRACK = 63
_CYLINDERS = 65
_MAX_CYLINDERS = 4095


def cylinders_for(total_bytes: int) -> int:
    """Cylinders for an ESP holding `total_bytes` of files."""
    cylinder = _HEADS * _SECTORS_PER_TRACK * 512
    need = -(-(total_bytes + total_bytes // 4 + (4 << 20)) // cylinder)
    if need > _MAX_CYLINDERS:
        raise EspError(f"{total_bytes} bytes of files do not fit on a {_MAX_CYLINDERS}-cylinder ESP")
    return max(_CYLINDERS, need)


class EspError(RuntimeError):
    pass


def _mtools(*args):
    # MTOOLS_SKIP_CHECK: our image has no partition table and odd geometry; that is fine.
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    proc = subprocess.run(list(args), env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise EspError(f"{' '.join(args)} failed: {proc.stderr.strip()}")


def esp_path(name: str) -> str:
    """A path on the ESP as the configuration spells it (\\guests\\a.elf) or with forward
    slashes (guests/a.elf), as make_esp wants it: forward slashes, no leading slash."""
    path = name.replace("\\", "/").strip("/")
    if not path or any(part in ("", ".", "..") for part in path.split("/")):
        raise EspError(f"{name!r} is not a file path on the ESP")
    return path


def parse_file_option(text: str):
    """`ESP_PATH=HOST_PATH` (run --file) -> (path on the ESP, bytes of the host file)."""
    esp_name, sep, host = text.partition("=")
    if not sep or not host:
        raise EspError(f"--file {text!r}: expected ESP_PATH=HOST_PATH, e.g. "
                       "\\guests\\hello.elf=build/guest/hello.elf")
    try:
        return esp_path(esp_name), pathlib.Path(host).read_bytes()
    except OSError as e:
        raise EspError(f"--file {text!r}: {e}") from e


def make_esp(image: pathlib.Path, efi: pathlib.Path, files: dict = None) -> pathlib.Path:
    """Creates `image` holding EFI/BOOT/BOOTX64.EFI (a copy of `efi`) and `files`, a mapping of
    path on the ESP (forward slashes, e.g. "metronome.cfg") to bytes or str."""
    image = pathlib.Path(image)
    efi = pathlib.Path(efi)
    if not efi.exists():
        raise EspError(f"{efi} does not exist (build the metronome-efi target)")
    image.parent.mkdir(parents=True, exist_ok=True)
    # A lock left by a killed Bochs would make the next Bochs refuse the disk.
    for stale in (image, image.with_name(image.name + ".lock")):
        if stale.exists():
            stale.unlink()
    total = efi.stat().st_size + sum(len(c.encode() if isinstance(c, str) else c)
                                     for c in (files or {}).values())
    sectors = cylinders_for(total) * _HEADS * _SECTORS_PER_TRACK
    with open(image, "wb") as f:
        f.truncate(sectors * 512)
    _mtools("mformat", "-i", str(image), "-T", str(sectors), "-h", str(_HEADS),
            "-s", str(_SECTORS_PER_TRACK), "-v", "METRONOME", "::")
    _mtools("mmd", "-i", str(image), "::/EFI", "::/EFI/BOOT")
    _mtools("mcopy", "-i", str(image), str(efi), "::/EFI/BOOT/BOOTX64.EFI")
    staging = image.parent / (image.name + ".files")
    staging.mkdir(exist_ok=True)
    made = {"EFI", "EFI/BOOT"}  # mmd fails on a folder that exists, even with -D s
    for name, content in (files or {}).items():
        data = content.encode() if isinstance(content, str) else content
        parts = pathlib.PurePosixPath(name).parts
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder.upper() in {m.upper() for m in made}:
                continue
            made.add(folder)
            _mtools("mmd", "-D", "s", "-i", str(image), "::/" + folder)
        local = staging / parts[-1]
        local.write_bytes(data)
        _mtools("mcopy", "-o", "-i", str(image), str(local), "::/" + "/".join(parts))
    return image
