"""Typing into one guest (`tools/metronome run CFG --console NAME`, configuration key
`console_input`): Bochs' COM1 on a pseudo-terminal instead of a file.

Bochs 2.7's `com1: mode=term` reads the bytes a terminal device sends it into the emulated UART
(Metronome's own COM1); metronome.efi hands them to the console_input guest's ttyS0 (the run loop,
vmx/run/run_loop.cpp). Here the tool opens a pseudo-terminal pair, gives Bochs the subordinate
side, and on its own side:
  - copies everything Bochs sends to serial.txt, so the run is read and judged exactly as a run
    with `mode=file` (emulator.py streams that file);
  - writes what should be typed: the user's keys (Terminal), or fixed bytes (Typed, for tests and
    scripts).
An interactive guest's unfinished line (its prompt, the echo of the keys) arrives as a piece,
`[name]+ text` (README, "Linux guests"); ConsoleDisplay shows it as the line being typed, below the
other guests' lines, which keep streaming.
"""
import os
import queue
import select
import sys
import termios
import threading
import time
import tty

from . import serial_log

QUIT_KEY = b"\x1d"  # Ctrl-], as in telnet: ends the run from the terminal


class SerialPty:
    """A pseudo-terminal for Bochs' COM1: `device` is the name Bochs opens; start() begins
    copying what Bochs sends into serial_path. What is sent is held until metronome.efi says it
    reads COM1 (serial_log.INPUT_MARKER): before, the firmware owns the port and Bochs flushes
    the terminal's input when it opens it. Then it goes out a byte at a time, PACE_SECONDS
    apart: Bochs' UART keeps 16 bytes and drops the rest, and metronome.efi looks at it between
    slices, so a burst (a paste, a test's line) must not outrun it."""

    PACE_SECONDS = 0.005

    def __init__(self):
        self.master, self._subordinate = os.openpty()
        tty.setraw(self._subordinate)  # bytes pass as they are: no echo, no CR/LF changes
        self.device = os.ttyname(self._subordinate)
        self._out = None
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._copy_out, daemon=True)
        self._writer = threading.Thread(target=self._copy_in, daemon=True)
        self._listening = threading.Event()
        self._queue = queue.Queue()
        self._seen = b""  # output so far, until the marker

    def start(self, serial_path):
        self._out = open(serial_path, "wb")
        self._reader.start()
        self._writer.start()

    def _copy_out(self):
        marker = serial_log.INPUT_MARKER.encode()
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self._out.write(data)
            self._out.flush()
            if not self._listening.is_set():
                self._seen = self._seen[-len(marker):] + data
                if marker in self._seen:
                    self._listening.set()

    def _copy_in(self):
        while not self._stop.is_set():
            if not self._listening.wait(0.1):
                continue
            try:
                data = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            for i in range(len(data)):
                try:
                    os.write(self.master, data[i:i + 1])
                except OSError:
                    return
                time.sleep(self.PACE_SECONDS)

    def send(self, data: bytes):
        if data:
            self._queue.put(bytes(data))

    def close(self):
        self._stop.set()
        for thread in (self._reader, self._writer):
            if thread.is_alive():
                thread.join(timeout=2)
        if self._out is not None:
            self._out.close()
        for fd in (self.master, self._subordinate):
            try:
                os.close(fd)
            except OSError:
                pass


class Typed:
    """Fixed bytes typed at the start of the run. They wait until the guest listens: metronome.efi
    takes COM1's bytes from the METRONOME-INPUT line on and keeps them (up to 4 KiB) until the
    guest's UART has its receive interrupt on (its driver has opened the port) and room for them."""

    def __init__(self, data: bytes = b""):
        self.data = data
        self.quit = threading.Event()  # never set: the run ends by itself
        self._pty = None

    def attach(self, pty: SerialPty):
        self._pty = pty
        pty.send(self.data)

    def type(self, data: bytes):
        """Types more while the run lasts (e.g. from an on_line callback)."""
        if self._pty is not None:
            self._pty.send(data)

    def detach(self):
        self._pty = None


class Terminal:
    """The user's keys, as they are typed (the terminal in raw mode while the run lasts, so Ctrl-C
    goes to the guest too); Ctrl-] ends the run (`quit` is set). Without a terminal, standard
    input is copied."""

    def __init__(self):
        self.quit = threading.Event()
        self._saved = None
        self._stop = threading.Event()
        self._thread = None

    def attach(self, pty: SerialPty):
        fd = sys.stdin.fileno()
        if os.isatty(fd):
            self._saved = termios.tcgetattr(fd)
            tty.setraw(fd)
        self._thread = threading.Thread(target=self._copy_in, args=(fd, pty), daemon=True)
        self._thread.start()

    def _copy_in(self, fd, pty):
        while not self._stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            data = os.read(fd, 1024)
            if not data:
                return  # end of standard input: nothing more to type
            if self._saved is not None and QUIT_KEY in data:
                pty.send(data.split(QUIT_KEY)[0])
                self.quit.set()
                return
            pty.send(data)

    def detach(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
        if self._saved is not None:
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._saved)
            self._saved = None


class ConsoleDisplay:
    """Prints the run's serial lines; the interactive guest's unfinished line stays at the bottom,
    redrawn under every other line that arrives meanwhile."""

    def __init__(self, name, out=None):
        self.name = name
        self.out = out or sys.stdout
        # On a terminal in raw mode a line ends with CR LF, and the typed line is redrawn.
        self.tty = self.out.isatty()
        self.newline = "\r\n" if self.tty else "\n"
        self.typing = ""  # the interactive guest's line so far
        self.joiner = serial_log.PieceJoiner()

    def _write(self, text):
        self.out.write(text)
        self.out.flush()

    def __call__(self, line):
        piece = serial_log.piece_of(line)
        if piece is not None:
            name, text = piece
            if name == self.name:
                self.typing += text
                self._write(text if self.typing != text else f"[{name}] {text}")
                return
        finished = self.joiner.feed(line)  # a piece of another guest: shown whole, later
        if not finished:
            return
        if self.typing:
            self._write("\r\x1b[K" if self.tty else self.newline)
        for whole in finished:
            if whole.startswith(f"[{self.name}] ") and self.typing:
                whole = f"[{self.name}] {self.typing}{whole[len(self.name) + 3:]}"
                self.typing = ""
            self._write(whole + self.newline)
        if self.typing and self.tty:
            self._write(f"[{self.name}] {self.typing}")
