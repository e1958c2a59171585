"""Test environment for the libix example apps: two network namespaces joined by a veth pair.

Side A carries the ix stack (library mode or ixd) on its veth end, which has no Linux IP
address; side B is a plain Linux peer (10.<n>.0.2/24) where the real clients run.

    env = NetnsEnv("kvlib")            # namespaces ixapp-<pid>-a / -b, veths ixa<pid>a / ixa<pid>b
    try:
        srv = env.start_in_a([kv_bin, "--iface=" + env.if_a, "--ip=" + env.ip_a + "/24"],
                             "ix-kv: ready")
        env.run_in_b(["sockperf", ...], timeout_s=30)    # a subprocess in namespace B
        with env.in_b():                                 # this thread in namespace B
            socket.create_connection((env.ip_a, 11211))
        env.stop(srv)                                    # SIGTERM by PID, exit status checked
    finally:
        env.close()                                      # every process by PID, then namespaces

Everything started is tracked by PID and stopped in close(); namespaces and veths of earlier
test processes that are gone are removed first. Needs root and iproute2.
"""
import contextlib
import ctypes
import fcntl
import os
import re
import select
import signal
import socket
import struct
import subprocess
import time

CLONE_NEWNET = 0x40000000
SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x17
NS_PREFIX = "ixapp-"
IF_PREFIX = "ixa"

_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def skip_reason(tools=()):
    """Why these tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, AF_XDP)"
    if subprocess.run(["sh", "-c", "command -v ip"], capture_output=True).returncode != 0:
        return "needs iproute2 (ip)"
    try:
        socket.socket(44, socket.SOCK_RAW, 0).close()  # AF_XDP
    except OSError as e:
        return "AF_XDP sockets unavailable: %s" % e
    for t in tools:
        if subprocess.run(["sh", "-c", "command -v " + t], capture_output=True).returncode != 0:
            return "needs " + t
    return None


def _sh(cmd, check=True):
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("`%s` failed (%d): %s" % (cmd, r.returncode, r.stdout + r.stderr))
    return r


def _pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def clean_stale():
    """Removes namespaces (and with them veths) of test processes that no longer exist."""
    try:
        names = os.listdir("/var/run/netns")
    except OSError:
        names = []
    for name in names:
        m = re.match(re.escape(NS_PREFIX) + r"(\d+)-", name)
        if m and not _pid_alive(int(m.group(1))):
            _sh("ip netns del " + name, check=False)
    r = _sh("ip -o link show", check=False)
    for m in re.finditer(r"^\d+: (%s(\d+)[ab])[@:]" % IF_PREFIX, r.stdout, re.M):
        if not _pid_alive(int(m.group(2))):
            _sh("ip link del " + m.group(1), check=False)


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns(%s): %s" % (path, os.strerror(e)))
    finally:
        os.close(fd)


def tx_checksum_off(ifname):
    """ethtool -K ifname tx off, in the calling thread's namespace (no ethtool binary needed).

    Over veth, Linux leaves TCP/UDP checksums of packets it sends to the (virtual) hardware; an
    AF_XDP receiver would see them unfinished."""
    ev = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, 0))
    ifr = struct.pack("16sP", ifname.encode(), ctypes.addressof(ev)) + b"\0" * 16
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifr)
    finally:
        s.close()


class Proc:
    """A process started by the environment, with its output in a file."""

    def __init__(self, popen, name, log_path):
        self.popen = popen
        self.name = name
        self.log_path = log_path
        self.ready_line = ""

    @property
    def pid(self):
        return self.popen.pid

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def alive(self):
        return self.popen.poll() is None


class NetnsEnv:
    def __init__(self, tag, subnet=88):
        clean_stale()
        pid = os.getpid()
        self.tag = tag
        self.ns_a = "%s%d-a" % (NS_PREFIX, pid)
        self.ns_b = "%s%d-b" % (NS_PREFIX, pid)
        self.if_a = "%s%da" % (IF_PREFIX, pid)
        self.if_b = "%s%db" % (IF_PREFIX, pid)
        self.ip_a = "10.%d.0.1" % subnet
        self.ip_b = "10.%d.0.2" % subnet
        self.tmp = "/tmp/%s%d-%s" % (NS_PREFIX, pid, tag)
        os.makedirs(self.tmp, exist_ok=True)
        self.procs = []
        self._created = []
        self._orig_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
        try:
            self._setup()
        except Exception:
            self.close()
            raise

    def _setup(self):
        for ns in (self.ns_a, self.ns_b):
            _sh("ip netns add " + ns)
            self._created.append(ns)
            _sh("ip netns exec %s sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
                "net.ipv6.conf.default.disable_ipv6=1" % ns, check=False)
            _sh("ip -n %s link set lo up" % ns)
        _sh("ip link add %s netns %s type veth peer name %s netns %s" %
            (self.if_a, self.ns_a, self.if_b, self.ns_b))
        _sh("ip -n %s link set %s up" % (self.ns_a, self.if_a))
        _sh("ip -n %s addr add %s/24 dev %s" % (self.ns_b, self.ip_b, self.if_b))
        _sh("ip -n %s link set %s up" % (self.ns_b, self.if_b))
        with self.in_b():
            tx_checksum_off(self.if_b)

    @contextlib.contextmanager
    def in_b(self):
        """Runs the block with this thread in namespace B (and its children, if it forks)."""
        setns("/var/run/netns/" + self.ns_b)
        try:
            yield
        finally:
            if _libc.setns(self._orig_ns, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the original namespace")

    def path(self, name):
        return os.path.join(self.tmp, name)

    def start(self, argv, name, ready=None, ns=None, timeout_s=30, env=None):
        """Starts argv (in namespace ns if given) with stdout+stderr to a log file. With `ready`,
        waits for a stdout line starting with it and returns it in proc.ready_line."""
        if ns is not None:
            argv = ["ip", "netns", "exec", ns] + list(argv)  # execs: the PID is the program's
        log_path = self.path(name + ".log")
        log = open(log_path, "wb")
        popen = subprocess.Popen(argv, stdout=subprocess.PIPE if ready else log, stderr=log,
                                 env=env, start_new_session=True)
        log.close()
        p = Proc(popen, name, log_path)
        self.procs.append(p)
        if ready is None:
            return p
        deadline = time.time() + timeout_s
        buf = b""
        while time.time() < deadline:
            r, _, _ = select.select([popen.stdout], [], [], 0.2)
            if r:
                chunk = os.read(popen.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
                for line in buf.decode(errors="replace").splitlines():
                    if line.startswith(ready):
                        p.ready_line = line
                        return p
            elif popen.poll() is not None:
                break
        raise RuntimeError("%s did not print %r within %ds (exit %r): stdout %r, log %r" %
                           (name, ready, timeout_s, popen.poll(), buf[-500:], p.log()[-2000:]))

    def start_in_a(self, argv, name, ready=None, **kw):
        return self.start(argv, name, ready=ready, ns=self.ns_a, **kw)

    def run_in_b(self, argv, timeout_s, input=None):
        """Runs argv in namespace B; returns CompletedProcess (returncode 124 on timeout)."""
        full = ["ip", "netns", "exec", self.ns_b] + list(argv)
        try:
            return subprocess.run(full, capture_output=True, timeout=timeout_s, input=input)
        except subprocess.TimeoutExpired as e:
            return subprocess.CompletedProcess(full, 124, e.stdout or b"", e.stderr or b"")

    def stop(self, p, sig=signal.SIGTERM, timeout_s=10):
        """Signals p by PID and waits; returns its exit status (-9 if it had to be killed)."""
        if p.popen.poll() is None:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.popen.wait(timeout=10)
                return -9
        if p.popen.stdout is not None:
            p.popen.stdout.close()
        return p.popen.returncode

    def close(self):
        for p in reversed(self.procs):
            if p.popen.poll() is None:
                self.stop(p, timeout_s=5)
        self.procs = []
        for ns in reversed(self._created):
            _sh("ip netns del " + ns, check=False)
        self._created = []
        try:
            os.close(self._orig_ns)
        except OSError:
            pass
        subprocess.run(["rm", "-rf", self.tmp])
