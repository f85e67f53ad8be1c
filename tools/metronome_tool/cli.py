"""The `tools/metronome` command line. Each subcommand lives in its own module with a
`register(subparsers)` function that adds its parser and sets `func`; add new ones to COMMANDS.
"""
import argparse
import sys

from . import bench_cmd, debug_cmd, run_cmd, test_cmd
from . import experiments_cmd
from . import peer_kvm_cmd

COMMANDS = [run_cmd, test_cmd, bench_cmd, debug_cmd, experiments_cmd, peer_kvm_cmd]


def parser():
    p = argparse.ArgumentParser(
        prog="metronome",
        description="Build metronome.efi, boot it in Bochs or QEMU, and read what it printed.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in COMMANDS:
        command.register(sub)
    return p


def main(argv=None):
    p = parser()
    # `test` hands whatever it does not know to ctest (e.g. -L unit, -R bochs).
    args, extra = p.parse_known_args(argv)
    if extra and args.command != "test":
        p.error("unrecognized arguments: " + " ".join(extra))
    args.ctest_args = extra
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("metronome: interrupted", file=sys.stderr)
        return 130
