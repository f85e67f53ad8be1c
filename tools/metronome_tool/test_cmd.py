"""`metronome test [CTEST ARGS]`: every test of the project, from a fresh checkout on a fresh Debian machine.
Installs what is missing, configures the `default` CMake preset when needed, builds everything
and runs CTest (unit tests and the end-to-end boots in Bochs and QEMU).

Exit status: CTest's (0 when every test passed)."""
import argparse
import subprocess
import sys

from . import deps, paths


def register(sub):
    p = sub.add_parser("test", help="install what is missing, build, and run every test",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=run)


def _step(cmd):
    print("metronome: $ " + " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, cwd=paths.SOURCE_DIR).returncode


def run(args):
    try:
        deps.ensure()
    except RuntimeError as e:
        print(f"metronome: {e}", file=sys.stderr)
        return 2
    if not (paths.DEFAULT_BUILD_DIR / "CMakeCache.txt").exists():
        if _step(["cmake", "--preset", "default"]) != 0:
            return 2
    if _step(["cmake", "--build", "--preset", "default"]) != 0:
        return 2
    return _step(["ctest", "--preset", "default"] + list(args.ctest_args))
