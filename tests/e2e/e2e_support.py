"""Shared pieces of the end-to-end tests: argument parsing, the tools/ import path, and a small
check collector that reports every failed expectation, not only the first."""
import argparse
import pathlib
import sys

SOURCE_DIR = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(SOURCE_DIR / "tools"))

SKIP = 77  # CTest's SKIP_RETURN_CODE for these tests: the emulator is not installed


def arguments(description, default_timeout):
    return arguments_with(description, default_timeout)


def arguments_with(description, default_timeout, extra=None):
    p = argparse.ArgumentParser(description=description)
    if extra is not None:
        extra(p)
    p.add_argument("--efi", type=pathlib.Path, required=True, help="the metronome.efi to boot")
    p.add_argument("--work-dir", type=pathlib.Path, required=True)
    p.add_argument("--testdata", type=pathlib.Path, help="folder that holds vmx-caps/")
    p.add_argument("--timeout", type=float, default=default_timeout)
    return p.parse_args()


class Checks:
    def __init__(self):
        self.failures = []

    def expect(self, condition, what):
        if not condition:
            self.failures.append(what)
        return condition

    def equal(self, actual, expected, what):
        return self.expect(actual == expected, f"{what}: expected {expected!r}, got {actual!r}")

    def finish(self, result):
        print(f"--- {result.platform}: {result.wall_seconds:.1f} s wall, "
              f"exit status {result.exit_status}, ended: {result.ended}, "
              f"work folder {result.work_dir}")
        if not self.failures:
            print("PASS")
            return 0
        for failure in self.failures:
            print(f"FAIL: {failure}")
        tail = result.output_tail(15)
        if tail:
            print("--- last lines of the emulator's own output:\n" + tail)
        return 1
