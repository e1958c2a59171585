"""Two network namespaces joined by a veth pair, made and always removed by bench/run.

Names carry the harness's pid ("ixb<pid>-<n>a"/"ixb<pid>-<n>b", interfaces "ixv<pid><n>a"/
"ixv<pid><n>b", n a counter) so that concurrent runs never collide, and leftovers of dead runs can
be removed by clean_stale(). Other topologies (netem.py's three namespaces, the middle one
"ixb<pid>-<n>m") take their index and registration from next_index() and track(). Side A is the
client (10.77.<n>.1/24), side B the server (10.77.<n>.2/24, or no address when the system under
test owns it, as ix-echo does).
"""

import ctypes
import fcntl
import os
import re
import socket
import struct
import subprocess
import sys

_PREFIX = "ixb"
_made = []     # NetnsPair objects not yet destroyed
_counter = [0]


def _ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=20)
    if check and r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


def next_index():
    """A fresh per-process index for namespace and interface names (never reused)."""
    n = _counter[0]
    _counter[0] += 1
    return n


def track(topology):
    """Registers an object with destroy() so that destroy_all() removes it (on exit, Ctrl-C or
    an error); its destroy() must call untrack()."""
    _made.append(topology)


def untrack(topology):
    if topology in _made:
        _made.remove(topology)


def set_tx_checksum_off(ns, ifname):
    """tx_checksum_off() on ifname inside namespace ns (raises RuntimeError on failure)."""
    r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__),
                        "--tx-checksum-off", ifname], capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise RuntimeError("tx checksum offload off on %s: %s" % (ifname, r.stderr.strip()))


class NetnsPair:
    def __init__(self, server_ip=True):
        n = next_index()
        pid = os.getpid()
        self.ns_a = "%s%d-%da" % (_PREFIX, pid, n)
        self.ns_b = "%s%d-%db" % (_PREFIX, pid, n)
        self.if_a = "ixv%d%da" % (pid % 1000000, n % 100)
        self.if_b = "ixv%d%db" % (pid % 1000000, n % 100)
        subnet = 1 + n % 250
        self.ip_a = "10.77.%d.1" % subnet
        self.ip_b = "10.77.%d.2" % subnet
        self.server_ip = server_ip
        self._created = []
        track(self)
        try:
            self._create()
        except Exception:
            self.destroy()
            raise

    def _create(self):
        for ns in (self.ns_a, self.ns_b):
            _ip("netns", "add", ns)
            self._created.append(ns)
        _ip("link", "add", self.if_a, "type", "veth", "peer", "name", self.if_b)
        _ip("link", "set", self.if_a, "netns", self.ns_a)
        _ip("link", "set", self.if_b, "netns", self.ns_b)
        for ns, ifname in ((self.ns_a, self.if_a), (self.ns_b, self.if_b)):
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                            "net.ipv6.conf.all.disable_ipv6=1"], capture_output=True, timeout=10)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", ifname, "up")
        _ip("-n", self.ns_a, "addr", "add", self.ip_a + "/24", "dev", self.if_a)
        # Over veth, Linux leaves the TCP/UDP checksums of packets it sends to the (virtual)
        # hardware, so an AF_XDP receiver (the ix stack on side B) sees them unfinished and drops
        # them as corrupt. The client side therefore computes its checksums in software, for
        # every system alike.
        set_tx_checksum_off(self.ns_a, self.if_a)
        if self.server_ip:
            _ip("-n", self.ns_b, "addr", "add", self.ip_b + "/24", "dev", self.if_b)
        else:
            # The server side carries no address (the stack under test owns it), so side A must
            # learn B's MAC from the stack's own ARP replies; nothing to do here.
            pass

    def exec_argv(self, side, argv, cpu=None):
        """argv wrapped to run in namespace side ('a' or 'b'), pinned to cpu if given."""
        ns = self.ns_a if side == "a" else self.ns_b
        wrapped = ["ip", "netns", "exec", ns]
        if cpu is not None:
            wrapped += ["taskset", "-c", str(cpu)]
        return wrapped + list(argv)

    def destroy(self):
        for ns in reversed(self._created):
            _ip("netns", "del", ns, check=False)
        self._created = []
        untrack(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.destroy()
        return False


def destroy_all():
    for p in list(_made):
        p.destroy()


def _pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def owner_pid(ns_name):
    """The pid of the harness that made namespace ns_name (the pairs' a and b, netem.py's middle
    m), or None if the name is not one of ours."""
    m = re.match(r"^%s(\d+)-\d+[abm]$" % _PREFIX, ns_name)
    return int(m.group(1)) if m else None


def clean_stale():
    """Removes namespaces left by bench/run processes that no longer exist."""
    r = _ip("netns", "list", check=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        pid = owner_pid(name)
        if pid is not None and not _pid_alive(pid):
            _ip("netns", "del", name, check=False)
    for name in os.listdir("/tmp"):  # ixd sockets of dead runs (systems.ixd_socket)
        m = re.match(r"^%s(\d+)-\d+b-ixd\.sock$" % _PREFIX, name)
        if m and not _pid_alive(int(m.group(1))):
            try:
                os.unlink(os.path.join("/tmp", name))
            except OSError:
                pass


_SIOCETHTOOL = 0x8946
_ETHTOOL_STXCSUM = 0x17  # linux/ethtool.h: set TX checksum offload


def tx_checksum_off(ifname):
    """Turns transmit checksum offload off on ifname in this process's network namespace, with
    the ethtool ioctl (Debian's ethtool binary is not needed)."""
    value = ctypes.create_string_buffer(struct.pack("II", _ETHTOOL_STXCSUM, 0))
    ifreq = struct.pack("16sP", ifname.encode(), ctypes.addressof(value)).ljust(40, b"\0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), _SIOCETHTOOL, ifreq)


def blocker():
    """Why namespaces cannot be made here, or '' if they can."""
    if os.geteuid() != 0:
        return "not root (network namespaces need root)"
    try:
        subprocess.run(["ip", "-V"], capture_output=True, timeout=5)
    except OSError:
        return "iproute2 `ip` not found"
    return ""


if __name__ == "__main__":
    # `ip netns exec NS python3 netns.py --tx-checksum-off IF`: the ioctl inside a namespace.
    if len(sys.argv) == 3 and sys.argv[1] == "--tx-checksum-off":
        tx_checksum_off(sys.argv[2])
        sys.exit(0)
    sys.exit("usage: netns.py --tx-checksum-off IFNAME")
