"""Processes bench/run starts: launched, watched for a ready line, and stopped by PID only.

Every process is started in its own session, remembered in a registry, and stopped (SIGTERM, then
SIGKILL after a grace period) when the harness is done with it or exits for any reason. Nothing
here ever signals a process the harness did not start.
"""

import os
import signal
import subprocess
import threading
import time

_registry = {}  # pid -> Popen, every live process this harness started
_lock = threading.Lock()


class Proc:
    """A started process whose stdout/stderr are collected by reader threads."""

    def __init__(self, argv, name, env=None):
        self.argv = list(argv)
        self.name = name
        self.lines = []          # stdout lines so far
        self.err_lines = []      # stderr lines so far
        self._cond = threading.Condition()
        self.popen = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                                      text=True, errors="replace")
        with _lock:
            _registry[self.popen.pid] = self.popen
        self._readers = [threading.Thread(target=self._read, args=(self.popen.stdout, self.lines),
                                          daemon=True),
                         threading.Thread(target=self._read,
                                          args=(self.popen.stderr, self.err_lines), daemon=True)]
        for t in self._readers:
            t.start()

    @property
    def pid(self):
        return self.popen.pid

    def _read(self, stream, sink):
        for line in stream:
            with self._cond:
                sink.append(line.rstrip("\n"))
                self._cond.notify_all()
        stream.close()  # at EOF: the pipe is this reader's alone
        with self._cond:
            self._cond.notify_all()

    def wait_for_line(self, needle, timeout_s):
        """True once a stdout line contains needle; False on timeout or if the process exited."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                if any(needle in l for l in self.lines):
                    return True
                if self.popen.poll() is not None:
                    # The exit may race with the last line: give the reader a moment.
                    self._cond.wait(0.05)
                    return any(needle in l for l in self.lines)
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))

    def alive(self):
        return self.popen.poll() is None

    def stop(self, grace_s=3.0):
        """SIGTERM, then SIGKILL after grace_s; returns the exit status (negative: signal)."""
        stop_pid(self.popen, grace_s)
        for t in self._readers:
            t.join(timeout=1.0)
        return self.popen.returncode

    def output(self):
        with self._cond:
            return "\n".join(self.lines), "\n".join(self.err_lines)


def stop_pid(popen, grace_s=3.0):
    """Stops one process this harness started, by its PID."""
    if popen.poll() is None:
        try:
            popen.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            popen.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            try:
                popen.kill()
            except ProcessLookupError:
                pass
            popen.wait(timeout=5)
    with _lock:
        _registry.pop(popen.pid, None)


def stop_all():
    """Stops every process still registered (called on exit, Ctrl-C and errors)."""
    with _lock:
        procs = list(_registry.values())
    for p in procs:
        stop_pid(p, grace_s=1.0)


def run(argv, timeout_s, name=None, env=None):
    """Runs a command to completion with a hard time bound.

    Returns (returncode, stdout, stderr); returncode is None if it had to be killed on timeout.
    """
    p = Proc(argv, name or os.path.basename(argv[0]), env=env)
    try:
        p.popen.wait(timeout=timeout_s)
        rc = p.popen.returncode
    except subprocess.TimeoutExpired:
        rc = None
    p.stop(grace_s=1.0)
    out, err = p.output()
    return rc, out, err
