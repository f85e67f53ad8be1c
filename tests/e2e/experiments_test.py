#!/usr/bin/env python3
"""e2e: one run of the thread's seven experiments (README) (tools/metronome_tool/experiments.py) in Bochs
at 10^9 instructions per second: the report's books balance exactly and every share is within
the tolerance the experiment states (0.5 points over >= 200 slices, or a stated reason)."""
import sys

from e2e_support import SKIP, Checks, arguments_with
from metronome_tool import bochs, experiments, report
from metronome_tool.experiments_cmd import run_one, table_rows


def main():
    args = arguments_with(__doc__, default_timeout=400,
                          extra=lambda p: p.add_argument("--experiment", required=True,
                                                         choices=sorted(experiments.BY_KEY)))
    if not bochs.available():
        print("bochs is not installed: skipped")
        return SKIP
    run = experiments.BY_KEY[args.experiment]
    outcome, rep, result, problems = run_one(run, args.efi, args.work_dir, args.timeout)
    check = Checks()
    for problem in problems:
        check.expect(False, problem)
    if outcome is None:
        return check.finish(result)
    for failure in outcome.failures:
        check.expect(False, failure)
    check.expect(rep["platform"]["idle_method"] != "", "the report names no idle method")
    print("\n".join(table_rows([(run, outcome, problems)])))
    print(report.table(rep))
    return check.finish(result)


if __name__ == "__main__":
    sys.exit(main())
