"""Integration test for ix-kv-linux with real memcached clients (run by kv_clients_test.sh).

Starts ix-kv-linux on a free loopback port and checks it with:
  (a) pymemcache: every command, noreply, multi-get, values read back;
  (b) memccp/memccat (libmemcached-tools): files copied in and read back byte-identical;
  (c) memcslap: a few seconds of load with no errors;
  (d) memcaslap (memaslap): a few seconds of mixed set/get load with data verification and
      expiry, then multi-gets: no error replies, no verification failures;
  (e) memccapable -a: libmemcached's protocol conformance checks (ascii ones only);
  (f) if /usr/bin/memcached exists: the same raw protocol exchanges sent to both servers
      must get byte-identical replies (errors, edge cases, pipelining).
Prints "N passed, N failed" at the end; exits non-zero on any failure.

The test functions take the server's host and port, so other tests import this module and run
the same clients against other servers (tests/apps: ix-kv on the ix stack in a namespace); they
count into the module's `passed` / `failed`.
"""
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from pymemcache.client.base import Client

SERVER = sys.argv[1] if __name__ == "__main__" else None
passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what, flush=True)


def tool(name):
    """libmemcached-tools' NAME: Debian's memcNAME, elsewhere memNAME (memcslap/memslap,
    memcaslap/memaslap, memccapable/memcapable)."""
    for candidate in ("memc" + name, "mem" + name):
        path = shutil.which(candidate)
        if path:
            return path
    raise SystemExit("missing tool " + name)


def start_ix_kv(memory_mb=64):
    proc = subprocess.Popen([SERVER, "--ip=127.0.0.1", "--port=0",
                             "--memory_mb=%d" % memory_mb],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    if not ready:
        proc.kill()
        raise SystemExit("ix-kv-linux did not start")
    line = proc.stdout.readline().decode()
    m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
    if not m:
        proc.kill()
        raise SystemExit("unexpected first line: %r" % line)
    return proc, int(m.group(1))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def exchange(port, request, timeout_s=5.0, host="127.0.0.1"):
    """Sends request, half-closes, returns everything the server sent until it closed."""
    s = socket.create_connection((host, port), timeout=timeout_s)
    s.sendall(request)
    s.shutdown(socket.SHUT_WR)
    chunks = []
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            data = s.recv(65536)
        except socket.timeout:
            break
        if not data:
            break
        chunks.append(data)
    s.close()
    return b"".join(chunks)


def test_pymemcache(port, host="127.0.0.1"):
    c = Client((host, port), connect_timeout=5, timeout=5, default_noreply=False)
    check(c.version().startswith(b"1.6"), "version")
    check(c.set("a", b"hello", noreply=False) is True, "set")
    check(c.get("a") == b"hello", "get after set")
    check(c.get("missing") is None, "get missing")
    value, cas = c.gets("a")
    check(value == b"hello" and cas is not None, "gets")
    check(c.cas("a", b"world", cas, noreply=False) is True, "cas with fresh unique")
    check(c.cas("a", b"again", cas, noreply=False) is False, "cas with stale unique")
    check(c.cas("nokey", b"x", b"1", noreply=False) is None, "cas on missing key")
    check(c.get("a") == b"world", "value after cas")
    check(c.add("a", b"x", noreply=False) is False, "add existing")
    check(c.add("b", b"bee", noreply=False) is True, "add new")
    check(c.replace("nokey", b"x", noreply=False) is False, "replace missing")
    check(c.replace("b", b"BEE", noreply=False) is True, "replace existing")
    check(c.append("b", b"!", noreply=False) is True, "append")
    check(c.prepend("b", b"<", noreply=False) is True, "prepend")
    check(c.get("b") == b"<BEE!", "append/prepend result")
    check(c.delete("b", noreply=False) is True, "delete")
    check(c.delete("b", noreply=False) is False, "delete missing")
    check(c.set("n", b"10", noreply=False), "set counter")
    check(c.incr("n", 5, noreply=False) == 15, "incr")
    check(c.decr("n", 100, noreply=False) == 0, "decr floors at 0")
    c.set("n", b"18446744073709551615", noreply=False)
    check(c.incr("n", 2, noreply=False) == 1, "incr wraps at 2^64")
    check(c.incr("nokey", 1, noreply=False) is None, "incr missing")
    c.set("s", b"abc", noreply=False)
    try:
        c.incr("s", 1, noreply=False)
        check(False, "incr non-numeric raises")
    except Exception as e:  # MemcacheClientError
        check("non-numeric" in str(e), "incr non-numeric message: %s" % e)
    many = {"k%d" % i: ("v%d" % i).encode() * (i + 1) for i in range(100)}
    check(c.set_many(many, noreply=False) == [], "set_many")
    got = c.get_many(list(many.keys()) + ["absent1", "absent2"])
    check(got == many, "get_many returns exactly the stored keys")
    # noreply commands followed by a read on the same connection.
    c.set("nr", b"1", noreply=True)
    c.incr("nr", 41, noreply=True)
    c.append("nr", b"x", noreply=True)
    check(c.get("nr") == b"42x", "noreply pipeline")
    c.delete("nr", noreply=True)
    check(c.get("nr") is None, "noreply delete")
    check(c.touch("a", 100, noreply=False) is True, "touch")
    check(c.touch("nokey", 100, noreply=False) is False, "touch missing")
    big = os.urandom(900 * 1024)
    check(c.set("big", big, noreply=False) is True, "set 900 KiB")
    check(c.get("big") == big, "get 900 KiB")
    try:
        c.set("toobig", b"x" * (2 << 20), noreply=False)
        check(False, "2 MiB value rejected")
    except Exception as e:  # MemcacheServerError
        check("too large" in str(e), "too large message: %s" % e)
    check(c.get("a") == b"world", "connection still in sync after error")
    stats = c.stats()
    check(stats.get(b"curr_items", 0) > 100, "stats curr_items: %r" % stats.get(b"curr_items"))
    check(stats.get(b"get_hits", 0) > 0, "stats get_hits")
    check(c.flush_all(noreply=False) is True, "flush_all")
    check(c.get("a") is None, "get after flush_all")
    c.set("ttl", b"t", expire=1, noreply=False)
    check(c.get("ttl") == b"t", "ttl item before expiry")
    time.sleep(2.1)
    check(c.get("ttl") is None, "ttl item after expiry")
    c.close()


def test_memcp_memcat(port, workdir, host="127.0.0.1"):
    memcp, memcat = tool("cp"), tool("cat")
    servers = "--servers=%s:%d" % (host, port)
    files = {}
    for name, size in (("one.bin", 1), ("small.txt", 1000), ("crlf.bin", 4096),
                       ("mid.bin", 100 * 1024), ("large.bin", 900 * 1024)):
        data = os.urandom(size) if name != "crlf.bin" else b"\r\n" * (size // 2)
        path = os.path.join(workdir, name)
        with open(path, "wb") as f:
            f.write(data)
        files[name] = data
    r = subprocess.run([memcp, servers] + [os.path.join(workdir, n) for n in files],
                       capture_output=True, timeout=30)
    check(r.returncode == 0, "memcp exit %d: %s" % (r.returncode, r.stderr[-500:]))
    for name, data in files.items():
        out = os.path.join(workdir, name + ".out")
        r = subprocess.run([memcat, servers, "--file=" + out, name], capture_output=True,
                           timeout=30)
        ok = r.returncode == 0 and os.path.exists(out)
        if not ok:  # older memcat: value on stdout
            r = subprocess.run([memcat, servers, name], capture_output=True, timeout=30)
            got = r.stdout
        else:
            with open(out, "rb") as f:
                got = f.read()
        check(got == data, "memcat %s byte-identical (%d vs %d bytes)" %
              (name, len(got), len(data)))


def test_memslap(port, host="127.0.0.1"):
    memslap = tool("slap")
    servers = "--servers=%s:%d" % (host, port)
    for test in ("set", "get", "mget"):
        start = time.time()
        r = subprocess.run([memslap, servers, "--test=" + test, "--concurrency=4",
                            "--execute-number=10000"], capture_output=True, timeout=60)
        text = (r.stdout + r.stderr).decode(errors="replace")
        check(r.returncode == 0 and "error" not in text.lower() and "fail" not in text.lower(),
              "memslap --test=%s exit %d: %s" % (test, r.returncode, text[-800:]))
        print("memslap --test=%s: %.1fs: %s" % (test, time.time() - start,
                                                 " ".join(text.split())[:200]), flush=True)


# memcaslap's replies are counted, not compared: the run fails on any error line (it prints
# each unexpected reply, e.g. "<6 CLIENT_ERROR bad command line format") and on any nonzero
# verification counter. Its keys start with an 8-byte binary prefix (0x10 0x10 ...), so this
# is the test that needs control characters in keys to work. Its verifier is only trusted as
# used here: with --overwrite, or with --division (multi-get), it reports verify_failed
# against memcached too, so the multi-get run is checked for error lines only.
MEMASLAP_COUNTERS = ("verify_misses", "verify_failed", "expired_get", "unexpired_unget")


def test_memaslap(port, host="127.0.0.1", seconds=3):
    memaslap = tool("aslap")
    server = "%s:%d" % (host, port)
    for name, extra in (("verify", ["--verify=0.2", "--exp_verify=0.05"]),
                        ("multi-get", ["--division=10"])):
        start = time.time()
        cmd = [memaslap, "--servers=" + server, "--time=%ds" % seconds, "--concurrency=4",
               "--threads=1"] + extra
        try:
            r = subprocess.run(cmd, capture_output=True, timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            check(False, "memaslap %s did not finish in %ds" % (name, seconds + 30))
            continue
        text = (r.stdout + r.stderr).decode(errors="replace")
        errors = [l for l in text.splitlines() if re.search(r"\b(CLIENT_|SERVER_)?ERROR\b", l)]
        counts = {k: int(v) for k, v in re.findall(r"^(\w+): (\d+)$", text, re.M)}
        check(r.returncode == 0, "memaslap %s exit %d: %s" % (name, r.returncode, text[-800:]))
        check(not errors, "memaslap %s: %d error lines, first %r" %
              (name, len(errors), errors[:3]))
        check(counts.get("cmd_set", 0) > 0 and counts.get("cmd_get", 0) > 0,
              "memaslap %s reached sets and gets: %r" % (name, counts))
        if name == "verify":
            bad = {k: counts.get(k) for k in MEMASLAP_COUNTERS if counts.get(k, 0) != 0}
            check(all(k in counts for k in MEMASLAP_COUNTERS[:2]) and not bad,
                  "memaslap %s failure counters: %r" % (name, bad or counts))
        print("memaslap %s: %.1fs: %d error lines, %s" % (
            name, time.time() - start, len(errors),
            " ".join("%s=%d" % kv for kv in counts.items())), flush=True)


def test_memcapable(port, host="127.0.0.1"):
    """memccapable -a: only the ascii tests. Its other half speaks the binary protocol, which
    ix-kv does not (every binary test times out), so it is not run."""
    memcapable = tool("capable")
    cmd = [memcapable, "-a", "-h", host, "-p", str(port), "-t", "5"]
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        check(False, "memcapable -a did not finish in 60s")
        return
    text = (r.stdout + r.stderr).decode(errors="replace")
    results = re.findall(r"^(ascii \w+(?: \w+)?)\s+\[(\w+)\]", text, re.M)
    failed_tests = [t for t, verdict in results if verdict != "pass"]
    check(r.returncode == 0 and "All tests passed" in text and not failed_tests and
          len(results) >= 20,
          "memcapable -a exit %d, %d results, not passed %r: %s" %
          (r.returncode, len(results), failed_tests, text[-800:]))
    print("memcapable -a: %d ascii tests, %d not passed" % (len(results), len(failed_tests)),
          flush=True)


# Known differences, deliberately not compared: memcached cuts a command line at a NUL byte
# (its tokenizer works on C strings; ix-kv answers CLIENT_ERROR bad command line format for a
# key with NUL; every other byte but space is allowed in keys, as in memcached); memcached pads a
# shrinking incr/decr result with spaces in place (ix-kv stores the exact digits, which the
# protocol allows); memcached closes silently on a 2048-byte line without newline (ix-kv
# sends SERVER_ERROR command line too long, then closes); memcached drops replies pipelined
# before a get with a too-long key.
def test_memory_limit():
    """A 2 MiB server filled with 8 MiB: LRU evicts, memory stays under the limit."""
    proc, port = start_ix_kv(memory_mb=2)
    try:
        c = Client(("127.0.0.1", port), connect_timeout=5, timeout=5, default_noreply=False)
        value = b"x" * 10000
        for i in range(800):
            c.set("fill%d" % i, value, noreply=False)
            if i % 50 == 0:
                c.get("fill0")  # keep the first key hot
        stats = c.stats()
        limit = stats[b"limit_maxbytes"]
        check(limit == 2 << 20, "limit_maxbytes %r" % limit)
        check(0 < stats[b"bytes"] <= limit, "bytes %r <= limit" % stats[b"bytes"])
        check(stats[b"evictions"] > 500, "evictions %r" % stats[b"evictions"])
        check(c.get("fill799") == value, "newest key present")
        check(c.get("fill1") is None, "old cold key evicted")
        check(c.get("fill0") == value, "hot key kept by LRU")
        c.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


DIFF_CASES = [
    b"set a 5 0 3\r\nabc\r\nget a\r\nget a missing a\r\n",
    b"set e 0 0 0\r\n\r\nget e\r\nset b 0 0 4\r\n\r\n\r\n\r\nget b\n",
    b"set  k  0  0  1 \r\nx\r\nget   k  \r\nset k 4294967295 0 1\r\nx\r\nget k\r\n",
    b"add k 0 0 1\r\na\r\nadd k 0 0 1\r\nb\r\nreplace k 0 0 1\r\nc\r\nreplace z 0 0 1\r\nc\r\n"
    b"append k 0 0 2\r\n>>\r\nprepend k 0 0 2\r\n<<\r\nappend z 0 0 1\r\nx\r\nget k\r\n",
    b"incr n 1\r\nset n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\n"
    b"set n 0 0 20\r\n18446744073709551615\r\nincr n 2\r\n",
    b"set s 0 0 3\r\nabc\r\nincr s 1\r\ndecr s 1\r\nset n 0 0 1\r\n5\r\nincr n -1\r\n"
    b"incr n abc\r\nincr n 18446744073709551616\r\nincr n\r\nincr n 18446744073709551615\r\n",
    b"set n 0 0 2\r\n99\r\nincr n 1\r\nget n\r\n",
    b"set k 0 0 1\r\nx\r\ndelete k\r\ndelete k\r\nset k 0 0 1\r\nx\r\ndelete k 0\r\n"
    b"delete k 5\r\ndelete\r\ndelete a b c d\r\ndelete k 0 noreply\r\ndelete k noreply\r\n",
    b"touch k 10\r\nset k 0 10 1\r\nx\r\ntouch k 100\r\ntouch k abc\r\nget k\r\n",
    b"set k 0 0 3\r\nabcde\r\nget k\r\n",
    b"set k 0 0 5\r\nab\r\nget k\r\n",
    b"set " + b"k" * 250 + b" 0 0 1\r\nx\r\nget " + b"k" * 250 + b"\r\n",
    b"set " + b"k" * 251 + b" 0 0 1\r\nx\r\n",
    # (memcached drops replies pipelined before a get with a too-long key: alone here.)
    b"get " + b"k" * 251 + b"\r\n",
    b"set k x 0 1\r\nset k 0 x 1\r\nset k 0 0 -1\r\nset k 0 0 x\r\nset k 0 0\r\n"
    b"set k 0 0 1 noreply extra\r\nset k 0 0 1 junk\r\nz\r\nget k\r\n",
    b"bogus\r\n\r\nx\r\nGET a\r\nget\r\nverbosity 1\r\nverbosity\r\nverbosity x\r\n",
    b"set a 0 0 1 noreply\r\n1\r\nadd a 0 0 1 noreply\r\n2\r\nadd b 0 0 1 noreply\r\n2\r\n"
    b"replace b 0 0 1 noreply\r\n3\r\nappend b 0 0 1 noreply\r\n4\r\n"
    b"prepend b 0 0 1 noreply\r\n5\r\nincr a 10 noreply\r\ndecr a 1 noreply\r\n"
    b"touch a 100 noreply\r\ndelete zz noreply\r\nverbosity 1 noreply\r\nget a b\r\n",
    b"set k 0 0 1 noreply\r\nxyz\r\nget k\r\n",
    b"set k 0 0 2000000\r\n" + b"v" * 2000000 + b"\r\nget k\r\nversion2\r\n",
    b"set k 0 0 1\r\nx\r\nset k 0 0 2000000\r\n" + b"set x 0 0 1\r\ny\r\n" * 125000 +
    b"\r\nget k x\r\n",
    b"flush_all x\r\nflush_all 1 2 3\r\nflush_all 0\r\nflush_all noreply\r\nget a\r\n",
    b"cas nope 0 0 1 1\r\nx\r\ncas k 0 0 1 abc\r\nx\r\ncas k 0 0 1\r\n",
    b"set k 0 0 1\r\nx\r\ngat 100 k nope\r\ngat x k\r\ngat 10\r\ngat\r\n",
    b"set k 0 -1 1\r\nx\r\nget k\r\nset k 0 2592001 1\r\nx\r\nget k\r\n",
    b"stats reset\r\nstats bogus\r\n",
    b"set k +1 +0 +1\r\nx\r\nget k\r\nset j -1 0 1\r\nx\r\nincr k +1\r\n",
    b"set k 0 0 1\r\nx\r\ntouch k -1\r\nget k\r\nset k 0 0 1\r\nx\r\ngat -1 k\r\nget k\r\n",
    b"set k 0 0 1\nx\r\nget k\nset k 0 0 1\nx\nget k\n",
    b"verbosity 1 2\r\nversionx\r\nflush_all -1\r\nset n 0 0 1\r\n0\r\ndecr n 1\r\n",
    b"set k 0 0 1\r\nx\r\ngets k\r\n".replace(b"gets k", b"cas k 0 0 1 0 noreply") +
    b"\r\ny\r\nappend nope 0 0 1 noreply\r\nz\r\nget k nope\r\n",
    b"set a 0 0 1\r\n1\r\nget a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a\r\n",
    # Keys with control characters, DEL, high bytes, tab and CR (memcaslap's keys start with
    # 8 bytes of 0x10).
    b"set " + b"\x10" * 8 + b"K7V9 0 0 3\r\nabc\r\nget " + b"\x10" * 8 + b"K7V9\r\n"
    b"set a\x01b 0 0 1\r\nx\r\ndelete a\x01b\r\nset \x7f\xff 0 0 1\r\nx\r\n"
    b"set a\tb 0 0 1\r\nx\r\nset a\rb 0 0 1\r\nx\r\nset k\r 0 0 1\r\nx\r\n"
    b"set n\x02 0 0 1\r\n5\r\nincr n\x02 2\r\ntouch n\x02 5\r\n"
    b"get a\x01b \x7f\xff a\tb a\rb n\x02 a\r\nget k\r\r\n",
    b"set key0 0 0 4\r\nkey0\r\nset key3 0 0 4\r\nkey3\r\n" +
    b"get " + b" ".join(b"key%d" % i for i in range(1000)) + b"\r\n",
]


def test_against_memcached(port, host="127.0.0.1"):
    """memcached runs on this namespace's loopback; the server under test at host:port."""
    memcached = "/usr/bin/memcached"
    if not os.path.exists(memcached):
        print("memcached not installed: differential cases skipped")
        return
    ref_port = free_port()
    ref = subprocess.Popen([memcached, "-u", "root", "-l", "127.0.0.1", "-p", str(ref_port),
                            "-U", "0", "-m", "64"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", ref_port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        for i, case in enumerate(DIFF_CASES):
            request = case
            check(exchange(ref_port, b"flush_all\r\n") == b"OK\r\n", "memcached flush")
            check(exchange(port, b"flush_all\r\n", host=host) == b"OK\r\n", "ix-kv flush")
            want = exchange(ref_port, request)
            got = exchange(port, request, host=host)
            check(got == want, "case %d differs from memcached:\n  request %r\n  memcached %r\n"
                  "  ix-kv     %r" % (i, request[:300], want[:400], got[:400]))
    finally:
        ref.terminate()
        ref.wait(timeout=10)


def main():
    proc, port = start_ix_kv()
    workdir = tempfile.mkdtemp(prefix="ix-kv-test-")
    try:
        test_pymemcache(port)
        test_memcp_memcat(port, workdir)
        test_memslap(port)
        test_memaslap(port)
        test_memcapable(port)
        test_memory_limit()
        test_against_memcached(port)
        check(proc.poll() is None, "ix-kv-linux still running at the end")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
