"""Run an emulator that writes metronome.efi's serial output to a file: stream that file as it
grows, notice the end marker, and stop the emulator when the run is over or out of time.

Shared by bochs.py and qemu.py; they only build the command line and the work folder.
"""
import dataclasses
import os
import pathlib
import signal
import subprocess
import sys
import time

from . import serial_log

POLL_SECONDS = 0.1


@dataclasses.dataclass
class RunResult:
    platform: str
    lines: list
    ended: bool  # METRONOME-END was printed
    timed_out: bool
    exit_status: object  # the emulator's exit status; None when the tool had to stop it
    wall_seconds: float
    work_dir: pathlib.Path
    serial_path: pathlib.Path
    output_path: pathlib.Path  # the emulator's own stdout and stderr

    def json_line(self, marker):
        return serial_log.json_line(self.lines, marker)

    def output_tail(self, count=20):
        try:
            text = self.output_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-count:])


class Progress:
    """A status line on stderr while the emulator runs: redrawn in place on a terminal, a
    heartbeat every 15 s of silence otherwise (CTest logs, pipes)."""

    def __init__(self, platform, enabled=True):
        self.platform = platform
        self.enabled = enabled
        self.tty = enabled and sys.stderr.isatty()
        self.start = time.monotonic()
        self.last_output = self.start
        self.last_draw = 0.0
        self.lines = 0
        self.drawn = False

    def clear(self):
        if self.drawn:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.drawn = False

    def line_printed(self):
        self.lines += 1
        self.last_output = time.monotonic()

    def tick(self, state="booting"):
        if not self.enabled:
            return
        now = time.monotonic()
        elapsed = now - self.start
        if self.tty and now - self.last_draw >= 0.5:
            sys.stderr.write(f"\r\x1b[K[{self.platform} {elapsed:5.1f} s] {state}, "
                             f"{self.lines} serial lines")
            sys.stderr.flush()
            self.drawn = True
            self.last_draw = now
        elif not self.tty and now - self.last_output >= 15:
            print(f"[{self.platform} {elapsed:.0f} s] {state}, {self.lines} serial lines",
                  file=sys.stderr, flush=True)
            self.last_output = now


def _stop(proc):
    """Stops the emulator and anything it started (its own process group, made at start)."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run(platform, cmd, work_dir, serial_path, timeout, on_line=None, progress=True,
        end_grace=10.0, stop=None):
    """Runs cmd in work_dir until it exits, until `end_grace` seconds after METRONOME-END (an
    image that returns to the firmware leaves the emulator running), until `timeout`, or until
    the threading.Event `stop` is set (the user ended the run).
    on_line(line) sees every clean serial line as it arrives (default: print to stdout), pieces
    of an interactive guest's unfinished lines too (serial_log.PieceJoiner); the result's lines
    are whole."""
    work_dir = pathlib.Path(work_dir)
    serial_path = pathlib.Path(serial_path)
    output_path = work_dir / f"{platform}.out"
    if on_line is None:
        def on_line(line):
            print(line, flush=True)
    status = Progress(platform, progress)
    splitter = serial_log.LineSplitter()
    joiner = serial_log.PieceJoiner()
    lines = []
    end_seen_at = None
    timed_out = False
    start = time.monotonic()

    def take(new_lines):
        nonlocal end_seen_at
        for line in new_lines:
            lines.extend(joiner.feed(line))
            status.clear()
            on_line(line)
            status.line_printed()
            if line.strip() == serial_log.END_MARKER and end_seen_at is None:
                end_seen_at = time.monotonic()

    with open(output_path, "wb") as out:
        # stdin from /dev/null: Bochs' debugger would otherwise wait for commands at the end.
        proc = subprocess.Popen(cmd, cwd=work_dir, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        serial = None
        try:
            while True:
                if serial is None and serial_path.exists():
                    serial = open(serial_path, "rb")
                if serial is not None:
                    take(splitter.feed(serial.read()))
                if proc.poll() is not None:
                    break
                now = time.monotonic()
                if end_seen_at is not None and now - end_seen_at > end_grace:
                    break
                if stop is not None and stop.is_set():
                    break
                if now - start > timeout:
                    timed_out = True
                    break
                status.tick("finishing" if end_seen_at else "running")
                time.sleep(POLL_SECONDS)
        finally:
            exited = proc.poll() is not None
            _stop(proc)
            if serial is None and serial_path.exists():
                serial = open(serial_path, "rb")
            if serial is not None:
                take(splitter.feed(serial.read()) + splitter.flush())
                serial.close()
            lines.extend(joiner.flush())
            status.clear()
    return RunResult(platform=platform, lines=lines, ended=serial_log.ended(lines),
                     timed_out=timed_out,
                     exit_status=proc.returncode if exited else None,
                     wall_seconds=time.monotonic() - start, work_dir=work_dir,
                     serial_path=serial_path, output_path=output_path)
