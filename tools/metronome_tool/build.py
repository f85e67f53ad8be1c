"""Bring metronome.efi up to date with CMake: configure when the build folder is not configured,
then build the `metronome-efi` target (CMake/Ninja rebuild only what is stale)."""
import pathlib
import subprocess
import sys

from . import paths


class BuildError(RuntimeError):
    pass


def _run(cmd, cwd=None):
    print("metronome: $ " + " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
    # The build's own output goes to stderr, so stdout stays the run's serial log.
    if subprocess.run(cmd, cwd=cwd, stdout=sys.stderr, stderr=sys.stderr).returncode != 0:
        raise BuildError("command failed: " + " ".join(str(c) for c in cmd))


def ensure_built(build_dir: pathlib.Path = paths.DEFAULT_BUILD_DIR,
                 source_dir: pathlib.Path = paths.SOURCE_DIR) -> pathlib.Path:
    """Returns the path of an up-to-date metronome.efi in build_dir."""
    build_dir = pathlib.Path(build_dir).resolve()
    if not (build_dir / "CMakeCache.txt").exists():
        if build_dir == (source_dir / "build").resolve():
            _run(["cmake", "--preset", "default"], cwd=source_dir)
        else:
            _run(["cmake", "-S", str(source_dir), "-B", str(build_dir), "-G", "Ninja",
                  "-DCMAKE_BUILD_TYPE=RelWithDebInfo"])
    _run(["cmake", "--build", str(build_dir), "--target", paths.EFI_TARGET])
    image = paths.efi_image(build_dir)
    if not image.exists():
        raise BuildError(f"{image} was not produced by the build")
    return image


def ensure_target(build_dir: pathlib.Path, target: str) -> None:
    """Builds one more target of an already configured build folder (e.g. metronome-guest)."""
    _run(["cmake", "--build", str(pathlib.Path(build_dir).resolve()), "--target", target])
