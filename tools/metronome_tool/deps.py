"""Installs the Debian packages the project needs, when any is missing (tools/install-deps is
idempotent and quick when everything is there)."""
import subprocess
import sys

from . import paths


def ensure():
    script = paths.TOOLS_DIR / "install-deps"
    if subprocess.run([str(script)], stdout=sys.stderr, stderr=sys.stderr).returncode != 0:
        raise RuntimeError("tools/install-deps failed: see the messages above")
