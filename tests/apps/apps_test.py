#!/usr/bin/python3
"""Integration tests of the libix example apps against real Linux clients, over a veth pair
between two network namespaces (netns_env.py). One case per run:

  kv library   ix-kv in library mode (AF_XDP on side A's veth) and real memcached clients on B
  kv ixd       the same with ix-kv attached to ixd (ixd owns side A's veth)
  echo library ix-echo-app in library mode: sockperf ping-pong (TCP, UDP), socat, nc, parallel
  echo ixd     the same against ixd
  kv ixrun     ix-kv (ixd mode) inside the ix VMM guest (ix-run): served through ixd's shared
               queues, with far fewer syscalls than requests (ix-run --stats_json)

Binaries come from the environment (IX_KV_BIN, IX_ECHO_APP_BIN, IXD_BIN, IX_RUN_BIN), the memcached
client checks from examples/kv/kv_clients_test.py (IX_KV_SRC). Exits 77 (skip) when not root or a
tool is missing, 1 on any failed check. Uses /usr/bin/python3 for Debian's pymemcache.
"""
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns_env  # noqa: E402

KV_PORT = 11211
ECHO_PORT = 7
failures = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def log(*a):
    print(*a, flush=True)


def bin_path(var):
    p = os.environ.get(var, "")
    if not p or not os.access(p, os.X_OK):
        print("SKIP: %s not set to an executable (%r)" % (var, p))
        sys.exit(77)
    return p


def start_ixd(env):
    sock = env.path("ixd.sock")
    d = env.start_in_a([bin_path("IXD_BIN"), "--iface=" + env.if_a, "--ip=" + env.ip_a + "/24",
                        "--socket=" + sock], "ixd")
    deadline = time.time() + 30
    while time.time() < deadline and not os.path.exists(sock):
        if not d.alive():
            raise RuntimeError("ixd exited %r: %s" % (d.popen.returncode, d.log()[-2000:]))
        time.sleep(0.05)
    if not os.path.exists(sock):
        raise RuntimeError("ixd did not create %s: %s" % (sock, d.log()[-2000:]))
    return d, sock


def start_app(env, mode, binary, name, port, extra=()):
    """Starts an app in library mode (in namespace A) or in ixd mode (after starting ixd).
    Returns (app, ixd or None)."""
    args = [binary, "--port=%d" % port] + list(extra)
    if mode == "library":
        argv = args + ["--mode=library", "--iface=" + env.if_a, "--ip=" + env.ip_a + "/24"]
        return env.start_in_a(argv, name, ready=name + ": ready"), None
    d, sock = start_ixd(env)
    return env.start(args + ["--mode=ixd", "--socket=" + sock], name, ready=name + ": ready"), d


def stop_all(env, app, d, name, sig=signal.SIGTERM):
    check(app.alive(), "%s still running at the end" % name)
    rc = env.stop(app, sig=sig)
    check(rc == 0, "%s exit status %r on %s: %s" % (name, rc, sig.name, app.log()[-1500:]))
    last = [l for l in app.log().splitlines() if l.startswith(name + ":")]
    log("final counters:", last[-1] if last else "(none)")
    if d is not None:
        check(d.alive(), "ixd still running after the app left")
        rc = env.stop(d)
        check(rc == 0, "ixd exit status %r: %s" % (rc, d.log()[-1500:]))
        log("ixd:", " | ".join(l for l in d.log().splitlines() if l.startswith("ixd:"))[-600:])
    return last[-1] if last else ""


# ---------------------------------------------------------------------------------------------
# Key-value server

def recv_exactly(s, n, timeout_s=30):
    s.settimeout(timeout_s)
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(min(1 << 20, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def kv_stats(host, port):
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(b"stats\r\n")
    buf = b""
    while not buf.endswith(b"END\r\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    return {m.group(1).decode(): m.group(2).decode()
            for m in re.finditer(rb"STAT (\S+) (\S+)\r\n", buf)}


def pipelined_gets(host, port, n, batch):
    """n gets of one key, `batch` per round trip; returns seconds. Checks every reply byte."""
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(b"set pk 0 0 5\r\nabcde\r\n")
    check(recv_exactly(s, 8) == b"STORED\r\n", "pipelined: set")
    want = b"VALUE pk 0 5\r\nabcde\r\nEND\r\n"
    start = time.time()
    for _ in range(n // batch):
        s.sendall(b"get pk\r\n" * batch)
        got = recv_exactly(s, len(want) * batch)
        if got != want * batch:
            check(False, "pipelined gets: reply mismatch (%d bytes)" % len(got))
            break
    took = time.time() - start
    s.close()
    return took


def sequential_gets(host, port, n):
    """n gets, one at a time; returns the median round trip in microseconds."""
    s = socket.create_connection((host, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(b"set sk 0 0 3\r\nxyz\r\n")
    recv_exactly(s, 8)
    want = b"VALUE sk 0 3\r\nxyz\r\nEND\r\n"
    rtts = []
    for _ in range(n):
        t = time.perf_counter()
        s.sendall(b"get sk\r\n")
        got = recv_exactly(s, len(want))
        rtts.append(time.perf_counter() - t)
        if got != want:
            check(False, "sequential get reply %r" % got)
            break
    s.close()
    rtts.sort()
    return rtts[len(rtts) // 2] * 1e6


def test_disconnects(host, port):
    """Clients that vanish mid-command (FIN or RST, in a value, in a line, with replies
    pending) leave nothing behind: curr_connections returns to 1 (the stats connection)."""
    base = int(kv_stats(host, port).get("total_connections", "0"))
    for i in range(150):
        s = socket.create_connection((host, port), timeout=5)
        kind = i % 3
        if kind == 0:
            s.sendall(b"set mid%d 0 0 100000\r\n" % i + b"v" * 5000)  # inside a value
        elif kind == 1:
            s.sendall(b"get abc def")  # a partial line
        else:
            s.sendall(b"set big 0 0 60000\r\n" + b"b" * 60000 + b"\r\n" + b"get big\r\n" * 20)
        if i % 2 == 0:  # reset instead of a FIN
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    # Wait until the server has seen them all (the counters stop moving), then check.
    deadline = time.time() + 15
    st, last, stable_since, polls = {}, None, time.time(), 0
    while time.time() < deadline:
        st = kv_stats(host, port)
        polls += 1
        now = (st.get("curr_connections"), int(st.get("total_connections", "0")) - polls)
        if now != last:
            last, stable_since = now, time.time()
        elif st.get("curr_connections") == "1" and time.time() - stable_since > 0.5:
            break
        time.sleep(0.1)
    seen = int(st.get("total_connections", "0")) - base - polls  # minus the stats connections
    check(st.get("curr_connections") == "1",
          "curr_connections after 150 abrupt disconnects: %r" % st.get("curr_connections"))
    # Those that reset before being accepted may never reach the app; the FIN ones must.
    check(seen >= 75, "connections the server saw: %d of 150" % seen)
    log("abrupt disconnects: the server saw %d of 150 connections, all gone" % seen)
    check(kv_stats(host, port).get("curr_items") is not None, "server answers after disconnects")


def test_slow_reader(host, port):
    """A client that asks for 30 MB and does not read for a while gets every byte, in order,
    and does not stop another client from being served meanwhile."""
    value = os.urandom(100 * 1024)
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(b"set slow 0 0 %d\r\n" % len(value) + value + b"\r\n")
    check(recv_exactly(s, 8) == b"STORED\r\n", "slow reader: set")
    n = 300
    s.sendall(b"get slow\r\n" * n)
    other_ok = True
    t_end = time.time() + 1.0
    while time.time() < t_end:  # meanwhile, another connection is served
        o = socket.create_connection((host, port), timeout=5)
        o.sendall(b"version\r\n")
        other_ok = other_ok and recv_exactly(o, 8, timeout_s=5).startswith(b"VERSION")
        o.close()
        time.sleep(0.1)
    check(other_ok, "another client served while a reader stalls")
    one = b"VALUE slow 0 %d\r\n" % len(value) + value + b"\r\nEND\r\n"
    got = recv_exactly(s, len(one) * n, timeout_s=60)
    check(len(got) == len(one) * n, "slow reader got %d of %d bytes" % (len(got), len(one) * n))
    check(got == one * n, "slow reader: every byte in order")
    s.close()


def case_kv(env, mode):
    kv_src = os.environ.get("IX_KV_SRC", "")
    sys.path.insert(0, kv_src)
    import kv_clients_test as kv  # the memcached client checks, parametrized by host
    app, d = start_app(env, mode, bin_path("IX_KV_BIN"), "ix-kv", KV_PORT)
    host = env.ip_a
    check(app.ready_line == "ix-kv: ready %s:%d" % (host if mode == "library" else "ixd", KV_PORT),
          "ready line %r" % app.ready_line)
    if d is not None:
        # A second app asking ixd for the same port is refused (and exits 1), the first serves on.
        r = subprocess.run([bin_path("IX_KV_BIN"), "--mode=ixd", "--socket=" + env.path("ixd.sock"),
                            "--port=%d" % KV_PORT], capture_output=True, timeout=30)
        check(r.returncode == 1 and b"cannot listen" in r.stderr,
              "second ix-kv on the same port: exit %d, %r" % (r.returncode, r.stderr[-300:]))
    workdir = tempfile.mkdtemp(prefix="kvapp-", dir=env.tmp)
    with env.in_b():
        for name, fn in (("pymemcache", lambda: kv.test_pymemcache(KV_PORT, host)),
                         ("memccp/memccat", lambda: kv.test_memcp_memcat(KV_PORT, workdir, host)),
                         ("memcslap", lambda: kv.test_memslap(KV_PORT, host)),
                         ("memcached differential",
                          lambda: kv.test_against_memcached(KV_PORT, host)),
                         ("disconnects", lambda: test_disconnects(host, KV_PORT)),
                         ("slow reader", lambda: test_slow_reader(host, KV_PORT))):
            t = time.time()
            before = kv.failed
            fn()
            failed = kv.failed - before
            note = "  (%d failed)" % failed if failed else ""
            log("%-24s %.1fs%s" % (name, time.time() - t, note))
        took = pipelined_gets(host, KV_PORT, 20000, 100)
        log("pipelined gets: 20000 in %.3fs (%.0f gets/s, batches of 100)" % (took, 20000 / took))
        rtt = sequential_gets(host, KV_PORT, 2000)
        log("sequential gets: median round trip %.1f us (Python client)" % rtt)
    check(kv.failed == 0, "%d kv_clients_test checks failed" % kv.failed)
    log("kv_clients_test checks: %d passed, %d failed" % (kv.passed, kv.failed))
    final = stop_all(env, app, d, "ix-kv")
    check(re.search(r" cmd_errors 0\b", final) is not None,
          "ix-kv reported command errors: %s" % final)


# ---------------------------------------------------------------------------------------------
# Echo

def sockperf(env, host, port, proto, seconds=4):
    """sockperf ping-pong against the echo app: replies to every message, none lost,
    duplicated or reordered. Logs the latency."""
    argv = ["sockperf", "ping-pong", "-i", host, "-p", str(port), "-t", str(seconds), "-m", "64"]
    if proto == "tcp":
        argv.append("--tcp")
    r = env.run_in_b(argv, timeout_s=seconds + 30)
    out = (r.stdout + r.stderr).decode(errors="replace")
    m = re.search(r"Summary: Latency is ([\d.]+) usec", out)
    check(r.returncode == 0 and m is not None,
          "sockperf %s: exit %d: %s" % (proto, r.returncode, out[-1500:]))
    bad = re.search(r"# dropped messages = (\d+); # duplicated messages = (\d+); "
                    r"# out-of-order messages = (\d+)", out)
    check(bad is not None and bad.groups() == ("0", "0", "0"),
          "sockperf %s: dropped/duplicated/out-of-order: %s" %
          (proto, bad.group(0) if bad else "(no such line)"))
    if m:
        pct = dict(re.findall(r"percentile (\d+\.\d+) =\s+([\d.]+)", out))
        got = re.search(r"\[Valid Duration\] RunTime=([\d.]+) sec; SentMessages=(\d+)", out)
        log("sockperf ping-pong %s 64 B: avg %s us, p50 %s us, p99 %s us, %s round trips" %
            (proto, m.group(1), pct.get("50.000", "?"), pct.get("99.000", "?"),
             got.group(2) if got else "?"))
    return out


def echo_through(env, tool_argv, data, timeout_s=60):
    r = env.run_in_b(["sh", "-c", tool_argv], timeout_s=timeout_s, input=data)
    return r


def test_echo_tools(env, host, port):
    data = os.urandom(4 << 20)
    r = echo_through(env, "socat -t 30 -T 30 - TCP:%s:%d" % (host, port), data)
    check(r.returncode == 0 and r.stdout == data,
          "socat 4 MiB echo: exit %d, %d of %d bytes back, equal %s, %s" %
          (r.returncode, len(r.stdout), len(data), r.stdout == data, r.stderr[-300:]))
    small = b"hello from nc\n" * 1000 + os.urandom(100000)
    r = echo_through(env, "nc -N -w 30 %s %d" % (host, port), small)
    check(r.returncode == 0 and r.stdout == small,
          "nc echo: exit %d, %d of %d bytes back, %s" % (r.returncode, len(r.stdout), len(small),
                                                         r.stderr[-300:]))
    line = b"one line over socat\n"
    r = echo_through(env, "socat -t 5 - TCP:%s:%d" % (host, port), line)
    check(r.stdout == line, "socat one line: %r" % r.stdout)
    r = echo_through(env, "socat -t 2 - UDP:%s:%d" % (host, port), b"udp via socat\n")
    check(r.stdout == b"udp via socat\n", "socat UDP datagram echoed: %r" % r.stdout)


def test_parallel_tcp(host, port, conns=16, size=512 * 1024):
    """Many connections echoing at once, each sending everything before reading (the server
    must throttle them, not lose or mix bytes)."""
    results = [None] * conns

    def one(i):
        try:
            data = os.urandom(size)
            s = socket.create_connection((host, port), timeout=30)
            got = bytearray()

            def reader():
                while len(got) < size:
                    chunk = s.recv(1 << 20)
                    if not chunk:
                        break
                    got.extend(chunk)
            t = threading.Thread(target=reader)
            t.start()
            s.sendall(data)
            t.join(60)
            s.close()
            results[i] = bytes(got) == data
        except OSError as e:
            results[i] = "error %s" % e
    threads = [threading.Thread(target=one, args=(i,)) for i in range(conns)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    took = time.time() - t0
    check(all(r is True for r in results), "parallel TCP echo results: %r" % results)
    log("parallel TCP echo: %d x %d KiB in %.2fs (%.1f MB/s each way)" %
        (conns, size // 1024, took, conns * size / took / 1e6))


def test_udp(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    ok = 0
    sizes = [1, 7, 64, 500, 1000, 1400, 1472] * 20
    for i, n in enumerate(sizes):
        payload = os.urandom(n)
        for _attempt in range(3):
            s.sendto(payload, (host, port))
            try:
                got, src = s.recvfrom(4096)
            except socket.timeout:
                continue
            if got == payload and src == (host, port):
                ok += 1
                break
    s.close()
    check(ok == len(sizes), "UDP echo: %d of %d datagrams came back intact" % (ok, len(sizes)))


def case_echo(env, mode):
    app, d = start_app(env, mode, bin_path("IX_ECHO_APP_BIN"), "ix-echo-app", ECHO_PORT)
    host = env.ip_a
    check(app.ready_line == "ix-echo-app: ready %s:%d" %
          (host if mode == "library" else "ixd", ECHO_PORT), "ready line %r" % app.ready_line)
    sockperf(env, host, ECHO_PORT, "tcp")
    sockperf(env, host, ECHO_PORT, "udp")
    test_echo_tools(env, host, ECHO_PORT)
    with env.in_b():
        test_udp(host, ECHO_PORT)
        test_parallel_tcp(host, ECHO_PORT)
    final = stop_all(env, app, d, "ix-echo-app", sig=signal.SIGINT)
    check(re.search(r" cmd_errors 0\b", final) is not None,
          "ix-echo-app reported command errors: %s" % final)


# ---------------------------------------------------------------------------------------------
# ix-kv inside the ix VMM guest, attached to ixd

def run_in_guest(env, sock, n, tag):
    """Runs ix-kv (ixd mode) under ix-run, serves n pipelined gets from namespace B, stops it.
    Returns the ix-run statistics (JSON) or None."""
    stats_path = env.path("ix-run-stats-%s.json" % tag)
    app = env.start([bin_path("IX_RUN_BIN"), "--stats_json=" + stats_path, "--",
                     bin_path("IX_KV_BIN"), "--mode=ixd", "--socket=" + sock,
                     "--port=%d" % KV_PORT], "ix-kv-" + tag, ready="ix-kv: ready", timeout_s=120)
    check(app.ready_line == "ix-kv: ready ixd:%d" % KV_PORT, "ready line %r" % app.ready_line)
    host = env.ip_a
    with env.in_b():
        from pymemcache.client.base import Client
        c = Client((host, KV_PORT), connect_timeout=5, timeout=5)
        check(c.set("vm", b"served from the guest", noreply=False) is True, "set in the guest")
        check(c.get("vm") == b"served from the guest", "get from the guest")
        c.close()
        took = pipelined_gets(host, KV_PORT, n, 100)
        st = kv_stats(host, KV_PORT)
    check(int(st.get("cmd_get", 0)) >= n, "the guest served %s gets" % st.get("cmd_get"))
    log("in the guest: %d pipelined gets in %.3fs (%.0f gets/s)" % (n, took, n / took))
    check(app.alive(), "ix-run still running at the end")
    rc = env.stop(app)
    check(rc == 0, "ix-run exit status %r: %s" % (rc, app.log()[-1500:]))
    try:
        with open(stats_path) as f:
            stats = json.load(f)
    except (OSError, ValueError) as e:
        check(False, "ix-run stats JSON %s: %s" % (stats_path, e))
        return None
    calls = stats.get("syscalls", {})
    top = sorted(((v.get("count", 0), k) for k, v in calls.items()), reverse=True)[:8]
    log("ix-run: exit %s, %d syscalls (hypercalls) for %d gets: %s" %
        (stats.get("exit_code"), stats.get("total_syscalls", -1), n,
         ", ".join("%s %d" % (k, v) for v, k in top)))
    check(stats.get("exit_code") == 0, "ix-run reports exit code %r" % stats.get("exit_code"))
    check(stats.get("hypercall_ns", {}).get("count", 0) > 0, "the program ran in the guest")
    # The data path goes through ixd's shared queues: no socket I/O beyond the attach.
    sock_io = sum(calls.get(k, {}).get("count", 0)
                  for k in ("sendto", "recvfrom", "sendmsg", "recvmsg", "accept", "accept4"))
    check(sock_io <= 4, "socket calls in the guest: %d (attach only)" % sock_io)
    return stats


def case_kv_ixrun(env):
    bin_path("IX_RUN_BIN")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm not usable")
        sys.exit(77)
    d, sock = start_ixd(env)
    small, large = 2000, 20000
    a = run_in_guest(env, sock, small, "small")
    b = run_in_guest(env, sock, large, "large")
    if a is not None and b is not None:
        ta, tb = a.get("total_syscalls", -1), b.get("total_syscalls", -1)
        log("syscalls: %d for %d gets, %d for %d gets: %.4f per additional get" %
            (ta, small, tb, large, (tb - ta) / (large - small)))
        check(0 < tb < large // 10, "%d syscalls for %d gets: not far fewer" % (tb, large))
        check(tb - ta < (large - small) // 10,
              "syscalls grew by %d for %d more gets" % (tb - ta, large - small))
    check(d.alive(), "ixd still running")
    rc = env.stop(d)
    check(rc == 0, "ixd exit status %r: %s" % (rc, d.log()[-1500:]))
    log("ixd:", " | ".join(l for l in d.log().splitlines() if l.startswith("ixd:"))[-800:])


def main():
    if len(sys.argv) < 2:
        print("usage: apps_test.py kv|echo library|ixd  |  apps_test.py kv ixrun")
        return 2
    what = sys.argv[1]
    mode = sys.argv[2] if len(sys.argv) > 2 else "library"
    tools = {"kv": ["memccp", "memccat", "memcslap"], "echo": ["sockperf", "socat", "nc"]}[what]
    why = netns_env.skip_reason(tools)
    if why:
        print("SKIP:", why)
        return 77
    if what == "kv":
        if importlib.util.find_spec("pymemcache") is None:
            print("SKIP: pymemcache (python3-pymemcache) not found for", sys.executable)
            return 77
    # meson's timeout sends SIGTERM: unwind through the finally below, which stops every process
    # this test started (by PID) and removes its namespaces.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("killed by SIGTERM"))
    env = netns_env.NetnsEnv("%s-%s" % (what, mode))
    start = time.time()
    try:
        if what == "kv" and mode == "ixrun":
            case_kv_ixrun(env)
        elif what == "kv":
            case_kv(env, mode)
        else:
            case_echo(env, mode)
    except Exception as e:  # a broken setup is a failure, with the logs
        import traceback
        traceback.print_exc()
        check(False, "exception: %s" % e)
        for p in env.procs:
            log("--- %s log:\n%s" % (p.name, p.log()[-3000:]))
    finally:
        env.close()
    log("%s %s: %d checks, %d failed, %.1fs" %
        (what, mode, checks, len(failures), time.time() - start))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
