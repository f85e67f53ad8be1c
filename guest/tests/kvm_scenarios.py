#!/usr/bin/env python3
"""CTest "guest: workloads under KVM": runs the built-in workloads and the ABI example with
guest-kvm-run (a userspace stand-in for the hypervisor, on Linux KVM) and checks what they do.
Exit 77 (skipped) when KVM is not usable here. The checks are about behaviour, not speed: KVM may
be emulating every instruction (nested or software virtualisation)."""
import argparse
import re
import subprocess
import sys

SKIP = 77


class Run:
    def __init__(self, output):
        self.output = output
        self.lines = [line for line in output.splitlines() if line.startswith("[")]
        m = re.search(r"^RESULT (.*)$", output, re.M)
        self.result = dict(kv.split("=", 1) for kv in m.group(1).split()) if m else {}

    def __getattr__(self, key):
        value = self.result.get(key)
        return int(value) if value is not None and value.isdigit() else value

    def printed(self, text):
        return any(text in line for line in self.lines)


def scenarios():
    """(title, image, runner arguments, check) for each scenario; check returns a failure or None."""
    def expect(*conditions):
        def check(r):
            for ok, what in conditions:
                if not ok(r):
                    return what
            return None
        return check

    B, H = "builtin", "hello"
    return [
        ("spin runs and takes ticks", B, ["--workload", "spin", "--tick-hz", "100", "--ms", "400"],
         expect((lambda r: r.state == "running", "state is not running"),
                (lambda r: r.progress > 0, "no progress"),
                (lambda r: r.ticks_seen > 0, "no ticks seen"),
                (lambda r: r.printed("spin: started"), "no start line"))),
        ("spin in 3 MiB (the last MiB through the page table at 0x4000)", B,
         ["--workload", "spin", "--memory-mib", "3", "--ms", "200"],
         expect((lambda r: r.state == "running" and r.progress > 0, "3 MiB guest did not run"))),
        ("exitstorm", B, ["--workload", "exitstorm", "--ms", "300"],
         expect((lambda r: r.state == "running" and r.progress > 0, "no progress"),
                (lambda r: r.printed("exitstorm: started"), "no start line"))),
        ("capacity without a tick powers down", B, ["--workload", "capacity", "--ms", "2000"],
         expect((lambda r: r.state == "powered-down" and r.code == 0, "did not power down with 0"),
                (lambda r: r.printed('max leaf 0x40000001, signature "Metronome"'),
                 "no signature line"),
                (lambda r: r.printed("leaf 0x40000001: eax=0x1 ebx=0x3e8 ecx=0xfa0 edx=0x19"),
                 "leaf 0x40000001 not printed"),
                (lambda r: r.printed("memory 2 MiB, tick_hz 0"), "no start-info line"))),
        ("capacity with a tick idles", B,
         ["--workload", "capacity", "--tick-hz", "50", "--ms", "400"],
         expect((lambda r: r.state == "halted" and r.ticks_seen > 0, "not halted with ticks"))),
        ("crash after ticks", B, ["--workload", "crash", "--tick-hz", "100", "--param", "3",
                                  "--ms", "3000"],
         expect((lambda r: r.state == "triple-fault", "no triple fault"),
                (lambda r: r.ticks_seen >= 3, "crashed before 3 ticks"),
                (lambda r: r.printed("crashing now"), "no 'crashing now' line"))),
        ("crash after iterations", B, ["--workload", "crash", "--param", "5000", "--ms", "3000"],
         expect((lambda r: r.state == "triple-fault" and r.progress == 5000,
                 "no triple fault after exactly 5000 iterations"))),
        ("powerdown after ticks", B, ["--workload", "powerdown", "--tick-hz", "100",
                                      "--param", "3", "--ms", "3000"],
         expect((lambda r: r.state == "powered-down" and r.code == 0, "did not power down with 0"),
                (lambda r: r.ticks_seen >= 3, "powered down before 3 ticks"))),
        ("powerdown after iterations", B, ["--workload", "powerdown", "--param", "5000",
                                           "--ms", "3000"],
         expect((lambda r: r.state == "powered-down" and r.progress == 5000,
                 "did not power down after exactly 5000 iterations"))),
        ("idle works once per tick and halts", B,
         ["--workload", "idle", "--tick-hz", "100", "--param", "100", "--ms", "500"],
         expect((lambda r: 0 < r.progress <= r.ticks_seen, "progress is not 1..ticks_seen"),
                (lambda r: r.halted_ms > 0, "never halted"))),
        ("idle without a tick halts for good", B, ["--workload", "idle", "--ms", "200"],
         expect((lambda r: r.state == "halted" and r.progress == 0, "not halted"),
                (lambda r: r.printed("no tick"), "no 'no tick' line"))),
        ("bursty halts most of the time", B,
         ["--workload", "bursty", "--tick-hz", "100", "--param", "5", "--ms", "500"],
         expect((lambda r: r.progress > 0 and r.ticks_seen > 0, "no work or no ticks"),
                (lambda r: r.halted_ms > r.ran_ms, "ran more than it halted at a 5% duty cycle"))),
        ("an image path selects the workload by file name", B,
         ["--workload", "\\guests\\SPIN.BIN", "--ms", "200"],
         expect((lambda r: r.printed("spin: started"), "path did not select spin"))),
        ("unknown workload", B, ["--workload", "nosuch", "--ms", "2000"],
         expect((lambda r: r.state == "powered-down" and r.code == 0xF001, "code is not 0xF001"),
                (lambda r: r.printed('unknown workload "nosuch"'), "no error line"))),
        ("bad start-info page", B, ["--workload", "spin", "--bad-start-info", "--ms", "2000"],
         expect((lambda r: r.state == "powered-down" and r.code == 0xF000, "code is not 0xF000"))),
        ("unhandled #UD is reported", B, ["--workload", "spin", "--inject-exception", "6@100",
                                          "--ms", "2000"],
         expect((lambda r: r.state == "powered-down" and r.code == 0xE006, "code is not 0xE006"),
                (lambda r: r.printed("exception 6 #UD at rip 0x1"), "no exception line"))),
        ("unhandled #GP (with error code) is reported", B,
         ["--workload", "spin", "--tick-hz", "100", "--inject-exception", "13@100",
          "--ms", "2000"],
         expect((lambda r: r.state == "powered-down" and r.code == 0xE00D, "code is not 0xE00D"),
                (lambda r: r.printed("exception 13 #GP at rip 0x1"),
                 "no exception line with an image address"))),
        ("the ABI example", H, ["--ms", "2000"],
         expect((lambda r: r.state == "powered-down" and r.code == 0, "did not power down with 0"),
                (lambda r: r.printed("hello from port 0xE9"), "no port line"),
                (lambda r: r.printed("hello from hypercall 2"), "no hypercall line"),
                (lambda r: r.progress == 1, "progress is not 1"))),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runner", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--example", required=True)
    args = ap.parse_args()
    images = {"builtin": args.image, "hello": args.example}

    failures = 0
    for title, image, arguments, check in scenarios():
        command = [args.runner, images[image], "--name", "test"] + arguments
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if done.returncode == SKIP:
            print(done.stdout.strip())
            return SKIP
        run = Run(done.stdout)
        problem = (f"runner exit status {done.returncode}: {done.stderr.strip()}"
                   if done.returncode != 0 else
                   "no RESULT line" if not run.result else check(run))
        print(f"{'ok  ' if problem is None else 'FAIL'} {title}"
              + ("" if problem is None else f": {problem}"))
        if problem is not None:
            failures += 1
            print("     " + " ".join(command))
            print("     " + done.stdout.strip().replace("\n", "\n     "))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
