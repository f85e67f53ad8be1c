#!/usr/bin/env python3
"""e2e: the README's main command on QEMU (TCG, no VMX), as a user types it:
`tools/metronome run --platform qemu`. It must explain itself once (the CPU has no VMX, where
Metronome does run), name the platform, print no report, and exit non-zero."""
import subprocess
import sys

from e2e_support import SKIP, SOURCE_DIR, arguments
from metronome_tool import qemu


def main():
    args = arguments(__doc__, default_timeout=120)
    if not qemu.available():
        print("qemu-system-x86_64 is not installed: skipped")
        return SKIP
    cmd = [sys.executable, str(SOURCE_DIR / "tools" / "metronome"), "run", "--platform", "qemu",
           "--efi", str(args.efi), "--build-dir", str(args.work_dir),
           "--report", str(args.work_dir / "report.json")]
    args.work_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    out = done.stdout + done.stderr
    print(out)
    failures = []
    if done.returncode == 0:
        failures.append("exit status 0 on a CPU without VMX")
    no_vmx = [line for line in out.splitlines() if "has no VMX" in line]
    if len(no_vmx) != 1:
        failures.append(f"expected the reason once, got {len(no_vmx)} lines: {no_vmx!r}")
    else:
        for words in ("qemu:", "Metronome cannot run here", "--platform qemu-kvm",
                      "--platform bochs"):
            if words not in no_vmx[0]:
                failures.append(f"the reason does not say {words!r}: {no_vmx[0]!r}")
    if "QEMU (TCG)" not in out:
        failures.append("the scenario line does not name QEMU (TCG)")
    for wrong in ("Bochs at", "no METRONOME-REPORT", "METRONOME-REPORT {"):
        if wrong in out:
            failures.append(f"printed {wrong!r}")
    if (args.work_dir / "report.json").exists():
        failures.append("wrote a report.json")
    for f in failures:
        print(f"FAIL: {f}")
    print("PASS" if not failures else "")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
