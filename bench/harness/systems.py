"""The systems under test, by contract: how to start each server, how to tell it is ready, and
why one is skipped. Adding a system is adding an entry here.

Echo servers (loaded by ix-load --protocol=echo on port 7):
  linux-epoll   bench/echo_epoll (ix-echo-epoll), plain Linux epoll, native
  ix-run-epoll  the same binary under ix-run (an unmodified app in a KVM guest, syscalls forwarded)
  ix-echo       the ix stack in library mode (examples/echo/ix-echo): owns the server address
                (the Linux side of the interface carries none), AF_XDP on queue 0
  ixd-echo      examples/libix_echo/ix-echo-app attached to ixd (ixd owns the interface; the app
                shares the server CPU with it)
Memcached-protocol servers (ix-load --protocol=memcache on port 11211):
  memcached         memcached from Debian with its usual threads (4 workers, its default)
  ix-run-memcached  the same under ix-run
  ix-kv-linux       ix's KV store and protocol code behind a Linux epoll server
                    (examples/kv/ix-kv-linux): separates the cost of the KV code from the stack
  ix-kv             examples/kv/ix-kv in library mode: the ix stack in process, AF_XDP
  ixd-kv            the same ix-kv attached to ixd (ixd owns the interface; the app shares the
                    server CPU with it)
Systems on ixd start two processes: ixd (ready once its Unix socket exists), then the app.
sockperf (its own client and server; the server is Linux epoll, a peer nobody here wrote):
  sockperf          `sockperf sr --tcp` (epoll is its default multiplexer; `-F epoll` is only
                    accepted together with a feed file -f)
  ix-run-sockperf   the same server under ix-run
  ix-echo-sp        ix-echo (library mode), which answers sockperf's ping-pong framing
  ixd-echo-sp       ix-echo-app on ixd, likewise
"""

import os
import shutil

from harness import config


class System:
    def __init__(self, name, kind, what, port, argv_fn, ready, server_ip=True, binary_fn=None,
                 hook=None, exit_zero=False, udp_echo=False, daemon_fn=None):
        self.name = name
        self.kind = kind          # "echo", "kv" or "sockperf"
        self.what = what
        self.port = port
        self._argv_fn = argv_fn   # (pair, paths) -> argv of the server (before the netns wrap)
        self.ready = ready        # ("line", needle) or ("listen", None)
        self.server_ip = server_ip
        self._binary_fn = binary_fn  # paths -> the binaries that must exist
        self.hook = hook          # reason string if this system is a not-yet-integrated hook
        self.exit_zero = exit_zero  # its contract: exit status 0 on SIGTERM
        self.udp_echo = udp_echo    # its contract: UDP echo on the same port (checked once)
        self._daemon_fn = daemon_fn  # (pair, paths) -> argv of ixd, started before the app
        self.on_ixd = daemon_fn is not None

    def daemon_argv(self, pair, paths):
        """argv of the dataplane daemon the app attaches to, or None (the app runs alone)."""
        return self._daemon_fn(pair, paths) if self._daemon_fn else None

    def argv(self, pair, paths):
        return self._argv_fn(pair, paths)

    def missing(self, paths):
        """Why this system cannot run here ('' if it can)."""
        if self.hook:
            return self.hook
        if paths["ix_run"] in self._binary_fn(paths) and paths.get("kvm_blocker"):
            return paths["kvm_blocker"]
        for b in self._binary_fn(paths):
            if not b or not os.path.exists(b):
                return "binary %s does not exist (not built yet)" % b
        return ""


def _which(name):
    return shutil.which(name) or "/usr/bin/" + name


def _memcached_argv(pair, paths):
    # Debian's memcached with its usual threads (-t 4 is its default), all pinned to the server
    # CPU like every server.
    return [_which("memcached"), "-u", "root", "-U", "0", "-m", "64", "-c", "1024",
            "-l", pair.ip_b, "-p", "11211"]


def _sockperf_argv(pair, paths):
    return [_which("sockperf"), "sr", "--tcp", "-i", pair.ip_b, "-p", "11111"]


def ixd_socket(pair):
    """The Unix socket of the ixd serving this namespace pair (unique per run and pair)."""
    return "/tmp/%s-ixd.sock" % pair.ns_b


def ixd_argv(pair, paths):
    """ixd owning the server side of the pair, its dataplane thread on the server CPU."""
    return [paths["ixd"], "--iface=" + pair.if_b, "--ip=%s/24" % pair.ip_b,
            "--socket=" + ixd_socket(pair), "--cpu=%d" % config.SERVER_CPU]


def ix_kv_argv(pair, paths):
    """ix-kv in library mode: the ix stack in this process over AF_XDP on the server interface."""
    return [paths["ix_kv"], "--mode=library", "--iface=" + pair.if_b, "--ip=%s/24" % pair.ip_b,
            "--port=11211", "--memory_mb=64"]


def ixd_kv_argv(pair, paths):
    """ix-kv attached to the ixd of ixd_argv()."""
    return [paths["ix_kv"], "--mode=ixd", "--socket=" + ixd_socket(pair), "--port=11211",
            "--memory_mb=64"]


def ixd_echo_argv(pair, paths):
    """ix-echo-app (TCP and UDP echo on port 7) attached to the ixd of ixd_argv()."""
    return [paths["ix_echo_app"], "--mode=ixd", "--socket=" + ixd_socket(pair), "--port=7"]


def all_systems():
    return [
        System("linux-epoll", "echo", "Linux epoll echo server (bench/echo_epoll), native", 7,
               lambda pair, paths: [paths["echo_epoll"], "--ip=" + pair.ip_b, "--port=7"],
               ("line", "ix-echo-epoll: ready"),
               binary_fn=lambda paths: [paths["echo_epoll"]], exit_zero=True, udp_echo=True),
        System("ix-run-epoll", "echo", "the same epoll echo server under ix-run (guest, syscalls "
               "forwarded)", 7,
               lambda pair, paths: [paths["ix_run"], "--", paths["echo_epoll"], "--ip=" + pair.ip_b,
                                    "--port=7"],
               ("line", "ix-echo-epoll: ready"),
               binary_fn=lambda paths: [paths["ix_run"], paths["echo_epoll"]], exit_zero=True, udp_echo=True),
        System("ix-echo", "echo", "ix stack in library mode (examples/echo/ix-echo, AF_XDP)", 7,
               lambda pair, paths: [paths["ix_echo"], "--iface=" + pair.if_b, "--ip=" + pair.ip_b,
                                    "--port=7", "--mode=echo"],
               ("line", "ix-echo: ready"), server_ip=False,
               binary_fn=lambda paths: [paths["ix_echo"]], exit_zero=True, udp_echo=True),
        System("ixd-echo", "echo", "ix-echo-app on ixd (examples/libix_echo; app and ixd share "
               "the server CPU)", 7, ixd_echo_argv, ("line", "ix-echo-app: ready"),
               server_ip=False, binary_fn=lambda paths: [paths["ixd"], paths["ix_echo_app"]],
               exit_zero=True, udp_echo=True, daemon_fn=ixd_argv),
        System("memcached", "kv", "memcached from Debian, its usual 4 worker threads", 11211, _memcached_argv,
               ("listen", None), binary_fn=lambda paths: [_which("memcached")]),
        System("ix-run-memcached", "kv", "memcached under ix-run", 11211,
               lambda pair, paths: [paths["ix_run"], "--"] + _memcached_argv(pair, paths),
               ("listen", None), binary_fn=lambda paths: [paths["ix_run"], _which("memcached")]),
        System("ix-kv-linux", "kv", "ix KV code on Linux epoll sockets (examples/kv/ix-kv-linux)",
               11211,
               lambda pair, paths: [paths["ix_kv_linux"], "--ip=" + pair.ip_b, "--port=11211",
                                    "--memory_mb=64"],
               ("line", "listening on"), binary_fn=lambda paths: [paths["ix_kv_linux"]]),
        System("ix-kv", "kv", "ix-kv, ix stack in library mode (examples/kv, AF_XDP)", 11211,
               ix_kv_argv, ("line", "ix-kv: ready"), server_ip=False,
               binary_fn=lambda paths: [paths["ix_kv"]], exit_zero=True),
        System("ixd-kv", "kv", "ix-kv on ixd (app and ixd share the server CPU)", 11211,
               ixd_kv_argv, ("line", "ix-kv: ready"), server_ip=False,
               binary_fn=lambda paths: [paths["ixd"], paths["ix_kv"]], exit_zero=True,
               daemon_fn=ixd_argv),
        System("sockperf", "sockperf", "sockperf server (Linux epoll), native", 11111,
               _sockperf_argv, ("listen", None), binary_fn=lambda paths: [_which("sockperf")]),
        System("ix-run-sockperf", "sockperf", "sockperf server under ix-run", 11111,
               lambda pair, paths: [paths["ix_run"], "--"] + _sockperf_argv(pair, paths),
               ("listen", None), binary_fn=lambda paths: [paths["ix_run"], _which("sockperf")]),
        System("ix-echo-sp", "sockperf", "ix-echo, ix stack in library mode (sockperf-aware echo)", 7,
               lambda pair, paths: [paths["ix_echo"], "--iface=" + pair.if_b, "--ip=" + pair.ip_b,
                                    "--port=7", "--mode=echo"],
               ("line", "ix-echo: ready"), server_ip=False,
               binary_fn=lambda paths: [paths["ix_echo"]], exit_zero=True),
        System("ixd-echo-sp", "sockperf", "ix-echo-app on ixd (app and ixd share the server CPU)", 7,
               ixd_echo_argv, ("line", "ix-echo-app: ready"), server_ip=False,
               binary_fn=lambda paths: [paths["ixd"], paths["ix_echo_app"]], exit_zero=True,
               daemon_fn=ixd_argv),
    ]
