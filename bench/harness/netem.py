"""Bulk transfers over impaired links (loss, reordering, duplication): ix-echo with and without
SACK against the Linux epoll echo server, side by side (bench/run's netem section).

Topology of one run (three namespaces, made and removed per run; names ixb<pid>-<n>a/m/b):

  A (client, CPU 0) --veth-- M (netem_relay.py, CPU 0) --veth-- B (server under test, CPU 1)

This kernel has no sch_netem, so the impairment is netem_relay.py's, in both directions alike
(its own seeded decisions per direction; see that file). A Linux client (transfer.py) sends BYTES
of a reproducible pattern through the echo and reads them back, byte-exact, within a time bound.
The relay is one Python thread: it caps the throughput of every system alike; the "none" case
(no impairment) measures that cap, the raw limit of this setup.
Reported per run: completion time, goodput, the server's and the client's retransmissions
(segments and bytes), SACK use on both sides, and the relay's counters.

Retransmission sources (units in the names):
  ix server      its own counters at exit (ix-echo prints `name value` lines on stderr):
                 tcp.retransmits (segments), tcp.retransmitted_bytes (bytes),
                 tcp.sack_recoveries / tcp.sack_retransmits, tcp.rto_expirations
  Linux server   namespace B's /proc/net/snmp Tcp RetransSegs (segments) and `ss -ti`'s
                 bytes_retrans of the server socket, read while the client holds the connection
  Linux client   its socket's TCP_INFO (tcpi_total_retrans segments, tcpi_bytes_retrans bytes)
                 and namespace A's counters (TcpExt TCPSackRecovery, TCPRenoRecovery, ...)

Bounds: every run moves settings()["bytes"] each way and must finish within "timeout_s" (the
client gives up, the relay exits by itself 60 s later); the whole section stops starting runs
once "budget_s" has passed (the rest are skipped, with that reason).
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

from harness import config, net, netns, proc, stats, systems

HERE = os.path.dirname(os.path.abspath(__file__))
RELAY = os.path.join(HERE, "netem_relay.py")
CLIENT = os.path.join(HERE, "transfer.py")
PORT = 7
START_TIMEOUT_S = 15
BASELINE = "linux-epoll"

# The impairments, per direction (both directions get the same), as tc netem would write them.
# "none" is the raw limit: the same relay, forwarding everything.
CASES = {
    "none": {},
    "loss1": {"loss": 1.0},
    "loss3": {"loss": 3.0},
    "reorder25": {"delay_ms": 5.0, "reorder": 25.0, "reorder_corr": 50.0},
    "dup1": {"duplicate": 1.0},
    "mixed": {"loss": 1.0, "duplicate": 1.0, "delay_ms": 5.0, "reorder": 25.0,
              "reorder_corr": 50.0},
}

# Per bench/run mode. About 2 minutes (full) and 15 s (quick) on 2 cores.
SETTINGS = {
    "full": {"bytes": 4 << 20, "repeats": 3, "timeout_s": 30, "budget_s": 420,
             "cases": ["none", "loss1", "loss3", "reorder25", "dup1", "mixed"]},
    "quick": {"bytes": 1 << 20, "repeats": 1, "timeout_s": 20, "budget_s": 90,
              "cases": ["none", "loss1", "dup1"]},
}


def settings(cfg):
    """The netem settings of a bench/run config (its "name" picks quick or full); a "netem" dict
    in cfg overrides single entries."""
    s = dict(SETTINGS["quick" if cfg.get("name") == "quick" else "full"])
    s.update(cfg.get("netem") or {})
    return s


def describe(case):
    """The impairment in tc netem's words, e.g. 'delay 5ms reorder 25% 50%'."""
    p = CASES[case] if isinstance(case, str) else case
    parts = []
    if p.get("delay_ms"):
        parts.append("delay %gms" % p["delay_ms"])
    if p.get("reorder"):
        parts.append("reorder %g%% %g%%" % (p["reorder"], p.get("reorder_corr", 0)))
    if p.get("loss"):
        parts.append("loss %g%%" % p["loss"])
    if p.get("duplicate"):
        parts.append("duplicate %g%%" % p["duplicate"])
    return " ".join(parts) or "none"


def relay_args(params, seed):
    argv = ["--seed=%d" % seed]
    for k in ("loss", "duplicate", "delay_ms", "reorder", "reorder_corr"):
        if params.get(k):
            argv.append("--%s=%g" % (k, params[k]))
    return argv


class NetemTriple:
    """Namespaces A, M, B: veth A<->M and M<->B; quacks like netns.NetnsPair for net.py's
    start_server (ns_b, if_b, ip_b, exec_argv). Registered with netns.track(), so
    netns.destroy_all() removes it too, and its names match netns.clean_stale()."""

    def __init__(self, server_ip=True):
        n = netns.next_index()
        pid = os.getpid()
        base = "%s%d-%d" % (netns._PREFIX, pid, n)
        self.ns_a, self.ns_m, self.ns_b = base + "a", base + "m", base + "b"
        ifb = "ixv%d%d" % (pid % 1000000, n % 100)
        self.if_a, self.if_ma, self.if_mb, self.if_b = ifb + "a", ifb + "x", ifb + "y", ifb + "b"
        subnet = 1 + n % 250
        self.ip_a, self.ip_b = "10.77.%d.1" % subnet, "10.77.%d.2" % subnet
        self.server_ip = server_ip
        self._created = []
        netns.track(self)
        try:
            self._create()
        except Exception:
            self.destroy()
            raise

    def _create(self):
        ip = netns._ip
        for ns in (self.ns_a, self.ns_m, self.ns_b):
            ip("netns", "add", ns)
            self._created.append(ns)
        # Each veth is made with its ends already in their namespaces: nothing is ever left in
        # the root namespace, whenever this is interrupted.
        ip("link", "add", self.if_a, "netns", self.ns_a, "type", "veth", "peer", "name",
           self.if_ma, "netns", self.ns_m)
        ip("link", "add", self.if_mb, "netns", self.ns_m, "type", "veth", "peer", "name",
           self.if_b, "netns", self.ns_b)
        for ns in (self.ns_a, self.ns_m, self.ns_b):
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                            "net.ipv6.conf.all.disable_ipv6=1"], capture_output=True, timeout=10)
            ip("-n", ns, "link", "set", "lo", "up")
        for ns, ifname in ((self.ns_a, self.if_a), (self.ns_m, self.if_ma),
                           (self.ns_m, self.if_mb), (self.ns_b, self.if_b)):
            ip("-n", ns, "link", "set", ifname, "up")
        for ifname in (self.if_ma, self.if_mb):
            ip("-n", self.ns_m, "link", "set", ifname, "promisc", "on")
        ip("-n", self.ns_a, "addr", "add", self.ip_a + "/24", "dev", self.if_a)
        # Both ends compute their checksums in software: the relay forwards frames as they are,
        # so a checksum left to the (virtual) hardware would arrive unfinished. Without checksum
        # offload the kernel also drops TSO, so every frame fits the MTU (the relay counts any
        # that do not as "oversize").
        for ns, ifname in ((self.ns_a, self.if_a), (self.ns_b, self.if_b)):
            netns.set_tx_checksum_off(ns, ifname)
        if self.server_ip:
            ip("-n", self.ns_b, "addr", "add", self.ip_b + "/24", "dev", self.if_b)

    def exec_argv(self, side, argv, cpu=None):
        ns = {"a": self.ns_a, "m": self.ns_m, "b": self.ns_b}[side]
        wrapped = ["ip", "netns", "exec", ns]
        if cpu is not None:
            wrapped += ["taskset", "-c", str(cpu)]
        return wrapped + list(argv)

    def destroy(self):
        for ns in reversed(self._created):
            netns._ip("netns", "del", ns, check=False)
        self._created = []
        netns.untrack(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.destroy()
        return False


# --- the systems ---------------------------------------------------------------------------------

def _ix_echo_argv(sack):
    def argv(pair, paths):
        return [paths["ix_echo"], "--iface=" + pair.if_b, "--ip=" + pair.ip_b,
                "--port=%d" % PORT, "--mode=echo", "--tcp_sack=%s" % ("true" if sack else "false")]
    return argv


def netem_systems():
    return [
        systems.System("ix-echo", "netem", "ix stack in library mode, SACK on (default)", PORT,
                       _ix_echo_argv(True), ("line", "ix-echo: ready"), server_ip=False,
                       binary_fn=lambda paths: [paths["ix_echo"]], exit_zero=True),
        systems.System("ix-echo-nosack", "netem", "ix-echo --tcp_sack=false", PORT,
                       _ix_echo_argv(False), ("line", "ix-echo: ready"), server_ip=False,
                       binary_fn=lambda paths: [paths["ix_echo"]], exit_zero=True),
        systems.System("linux-epoll", "netem", "Linux epoll echo server (bench/echo_epoll)", PORT,
                       lambda pair, paths: [paths["echo_epoll"], "--ip=" + pair.ip_b,
                                            "--port=%d" % PORT],
                       ("line", "ix-echo-epoll: ready"),
                       binary_fn=lambda paths: [paths["echo_epoll"]], exit_zero=True),
    ]


# --- parsing (pure) ------------------------------------------------------------------------------

def parse_ix_counters(text):
    """`name value` lines of ix-echo's counter dump (stderr; only non-zero ones are printed) ->
    {name: int}. The last dump wins (the one at exit)."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^\s+([a-z_][\w.]*) (\d+)$", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def parse_proc_net(text):
    """/proc/net/snmp and /proc/net/netstat text -> {"Tcp.RetransSegs": n, "TcpExt.X": n}."""
    out = {}
    lines = text.splitlines()
    for head, vals in zip(lines, lines[1:]):
        h, v = head.split(), vals.split()
        if not h or not v or h[0] != v[0] or not h[0].endswith(":"):
            continue
        if any(not x.lstrip("-").isdigit() for x in v[1:]) or any(
                x.lstrip("-").isdigit() for x in h[1:]):
            continue  # not a (names, values) pair of lines
        prefix = h[0].rstrip(":")
        for k, x in zip(h[1:], v[1:]):
            out["%s.%s" % (prefix, k)] = int(x)
    return out


def parse_ss_server(text, port):
    """`ss -tinH` text of namespace B -> retransmission figures of the socket on :port, or {}."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        fields = line.split()
        if len(fields) >= 4 and fields[0] == "ESTAB" and fields[3].endswith(":%d" % port):
            info = lines[i + 1] if i + 1 < len(lines) else ""
            res = {"bytes_retrans": 0, "retrans_total": 0}
            m = re.search(r"bytes_retrans:(\d+)", info)
            if m:
                res["bytes_retrans"] = int(m.group(1))
            m = re.search(r"\bretrans:\d+/(\d+)", info)
            if m:
                res["retrans_total"] = int(m.group(1))
            m = re.search(r"bytes_sent:(\d+)", info)
            if m:
                res["bytes_sent"] = int(m.group(1))
            return res
    return {}


def delta(after, before):
    return {k: v - before.get(k, 0) for k, v in after.items()}


LINUX_KEYS = ("Tcp.RetransSegs", "Tcp.OutSegs", "TcpExt.TCPSackRecovery",
              "TcpExt.TCPRenoRecovery", "TcpExt.TCPTimeouts", "TcpExt.TCPSACKReorder",
              "TcpExt.TCPDSACKRecv", "TcpExt.TCPLostRetransmit", "TcpExt.TCPFastRetrans",
              "TcpExt.TCPSlowStartRetrans")


def relay_totals(relay):
    """Both directions of the relay's counters added up ({} if the relay gave none)."""
    out = {}
    for d in ("left_to_right", "right_to_left"):
        for k, v in (relay.get(d) or {}).items():
            out[k] = out.get(k, 0) + v
    return out


def _add(a, b):
    return None if a is None or b is None else a + b


def summarize_run(system, ix, ns_a, ns_b, ss_b, client, relay=None):
    """The figures of one run, from what was collected (pure). Retransmissions are in segments
    (_segs) and bytes (_bytes); None where the source does not say."""
    info = client.get("tcp_info") or {}
    r = {"ok": bool(client.get("ok")), "seconds": client.get("seconds"),
         "client_retrans_segs": info.get("total_retrans_segs"),
         "client_retrans_bytes": info.get("bytes_retrans"),
         "sack_negotiated": info.get("sack"),
         "client_sack_recoveries": ns_a.get("TcpExt.TCPSackRecovery"),
         "client_reno_recoveries": ns_a.get("TcpExt.TCPRenoRecovery"),
         "client_rto_expirations": ns_a.get("TcpExt.TCPTimeouts")}
    if client.get("ok") and client.get("seconds"):
        r["goodput_mib_s"] = client["bytes"] / client["seconds"] / (1 << 20)
    if system.startswith("ix"):
        r["server_retrans_segs"] = ix.get("tcp.retransmits", 0)
        # The dump leaves out zero counters: no retransmitted bytes with retransmissions means
        # the engine does not count bytes (None), none of either means 0.
        r["server_retrans_bytes"] = ix.get("tcp.retransmitted_bytes",
                                           None if r["server_retrans_segs"] else 0)
        r["server_sack_recoveries"] = ix.get("tcp.sack_recoveries", 0)
        r["server_sack_retransmits"] = ix.get("tcp.sack_retransmits", 0)
        r["server_rto_expirations"] = ix.get("tcp.rto_expirations", 0)
        r["server_fast_retransmits"] = ix.get("tcp.fast_retransmits", 0)
    else:
        r["server_retrans_segs"] = ns_b.get("Tcp.RetransSegs")
        r["server_retrans_bytes"] = ss_b.get("bytes_retrans")
        r["server_sack_recoveries"] = ns_b.get("TcpExt.TCPSackRecovery")
        r["server_rto_expirations"] = ns_b.get("TcpExt.TCPTimeouts")
        r["server_fast_retransmits"] = ns_b.get("TcpExt.TCPFastRetrans")
    r["retrans_bytes_total"] = _add(r["server_retrans_bytes"], r["client_retrans_bytes"])
    tot = relay_totals(relay or {})
    if tot and r.get("goodput_mib_s"):
        r["relay_frames_per_s"] = tot["out"] / client["seconds"]
        r["relay_mib_s"] = tot.get("out_bytes", 0) / client["seconds"] / (1 << 20)
    # Frames lost without the impairment choosing it: the relay fell behind (kernel_drops) or
    # met a frame larger than the MTU (oversize).
    r["relay_unchosen_drops"] = tot.get("kernel_drops", 0) + tot.get("oversize", 0) if tot else None
    return r


FIGURES = ("seconds", "goodput_mib_s", "server_retrans_segs", "server_retrans_bytes",
           "client_retrans_segs", "client_retrans_bytes", "retrans_bytes_total",
           "server_sack_recoveries", "server_rto_expirations", "client_rto_expirations",
           "relay_frames_per_s", "relay_mib_s", "relay_unchosen_drops")
RATIO_FIGURES = ("seconds", "goodput_mib_s", "server_retrans_segs", "server_retrans_bytes",
                 "client_retrans_segs", "client_retrans_bytes", "retrans_bytes_total")


def summarize_case(runs):
    """Median (min..max) of every figure over the valid runs of one (case, system)."""
    ok = [r for r in runs if r.get("ok") and not r.get("failed")]
    return {f: stats.summarize([r.get(f) for r in ok]) for f in FIGURES}


def ratios_vs_linux(results):
    """{case: {system: {figure: ratio}}}: median over median against linux-epoll in the same
    case, for RATIO_FIGURES (None where a figure is missing or Linux's is 0)."""
    out = {}
    by_case = {}
    for r in results:
        by_case.setdefault(r["case"], {})[r["system"]] = r
    for case, rows in by_case.items():
        base = rows.get(BASELINE)
        if not base or not base.get("summary"):
            continue
        out[case] = {}
        for name, r in rows.items():
            if name == BASELINE or not r.get("summary"):
                continue
            out[case][name] = {f: stats.ratio(r["summary"][f]["median"],
                                              base["summary"][f]["median"])
                               for f in RATIO_FIGURES}
    return out


def raw_limit(results):
    """The no-impairment ceiling of the relay: the best median goodput over the systems in case
    "none", with that system's relay rate. None if "none" did not run."""
    best = None
    for r in results:
        if r["case"] != "none" or not r.get("summary"):
            continue
        g = r["summary"]["goodput_mib_s"]["median"]
        if g is not None and (best is None or g > best["goodput_mib_s"]):
            best = {"system": r["system"], "goodput_mib_s": g,
                    "relay_frames_per_s": r["summary"]["relay_frames_per_s"]["median"],
                    "relay_mib_s": r["summary"]["relay_mib_s"]["median"]}
    return best


def run_verdict(client_out, alive, srv, exit_zero):
    """Why one run is not valid ('' if it is): transfer not byte-exact or too slow, server died
    or broke its exit contract (pure)."""
    if not client_out.get("ok"):
        return "transfer: %s" % (client_out.get("error") or "not byte-exact")
    if not alive:
        return "server died during the transfer"
    if exit_zero and srv.get("exit_status") != 0:
        return "server exited %s on SIGTERM: %s" % (srv.get("exit_status"),
                                                   (srv.get("stderr_tail") or "")[-300:])
    return ""


# --- running -------------------------------------------------------------------------------------

def _proc_net(pair, side):
    rc, out, err = proc.run(pair.exec_argv(side, ["cat", "/proc/net/snmp", "/proc/net/netstat"]),
                            timeout_s=10)
    return parse_proc_net(out) if rc == 0 else {}


def _client_result(client, rc):
    out, err = client.output()
    try:
        res = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
    except (ValueError, IndexError):
        return {"ok": False, "error": "no result from the client (exit %s): %s" % (rc, err[-300:])}
    if rc != 0 and res.get("ok"):
        res["ok"], res["error"] = False, "client exited %s" % rc
    return res


def run_one(system, params, paths, nbytes, seed, timeout_s, log):
    """One transfer over a fresh impaired link. Returns the run's record; "failed" says why it
    is not a valid run (relay or server did not start, server died, transfer not byte-exact or
    not done within timeout_s)."""
    rec = {"seed": seed}
    with NetemTriple(server_ip=system.server_ip) as t, tempfile.TemporaryDirectory() as tmp:
        relay = proc.Proc(t.exec_argv("m", [sys.executable, RELAY, "--left=" + t.if_ma,
                                            "--right=" + t.if_mb,
                                            "--max_seconds=%d" % (timeout_s + 60)]
                                      + relay_args(params, seed), cpu=config.CLIENT_CPU),
                          "netem-relay")
        rec["relay_command"] = " ".join(relay.argv)
        if not relay.wait_for_line("netem-relay: ready", START_TIMEOUT_S):
            relay.stop(1.0)
            rec["failed"] = "netem relay did not start: %s" % " ".join(relay.output())[-400:]
            return rec
        server, err = net.start_server(system, t, paths, log)
        if server is None:
            relay.stop(1.0)
            rec["failed"] = "server " + err
            return rec
        rec["server_command"] = net.server_argv(system, t, paths)
        hold = os.path.join(tmp, "hold")
        client_out, ss_b, after_a, after_b = {}, {}, {}, {}
        try:
            before_a, before_b = _proc_net(t, "a"), _proc_net(t, "b")
            argv = t.exec_argv("a", [sys.executable, CLIENT, t.ip_b, str(PORT), str(nbytes),
                                     "--seed=%d" % seed, "--timeout_s=%g" % timeout_s,
                                     "--hold_file=" + hold], cpu=config.CLIENT_CPU)
            rec["client_command"] = " ".join(argv)
            client = proc.Proc(argv, "transfer")
            client.wait_for_line("{", timeout_s + 15)
            if not system.name.startswith("ix"):
                # The server socket's own figures, while the client still holds it open.
                rc, out, _ = proc.run(t.exec_argv("b", ["ss", "-tinH"]), timeout_s=10)
                ss_b = parse_ss_server(out, PORT)
            open(hold, "w").close()
            try:
                client.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
            client_out = _client_result(client, client.stop(1.0))
            time.sleep(0.2)  # the last ACKs and FINs
            after_a, after_b = _proc_net(t, "a"), _proc_net(t, "b")
        finally:
            alive = server.alive()
            srv = net.stop_server(server)
            relay_rc = relay.stop(3.0)
        ix = parse_ix_counters(server.output()[1]) if system.name.startswith("ix") else {}
        rout = [l for l in relay.output()[0].splitlines() if l.startswith("{")]
        rec["relay"] = json.loads(rout[-1]) if rout else {"error": "no counters (exit %s)" %
                                                          relay_rc}
        ns_a = {k: v for k, v in delta(after_a, before_a).items() if k in LINUX_KEYS}
        ns_b = {k: v for k, v in delta(after_b, before_b).items() if k in LINUX_KEYS}
        rec.update({"client": client_out, "ns_a": ns_a, "ns_b": ns_b, "ss_server": ss_b,
                    "ix_counters": {k: v for k, v in ix.items() if k.startswith("tcp.")},
                    "server": srv})
        rec.update(summarize_run(system.name, ix, ns_a, ns_b, ss_b, client_out, rec["relay"]))
        why = run_verdict(client_out, alive, srv, system.exit_zero)
        if why:
            rec["failed"] = why
        return rec


def run_case(system, case, paths, st, log):
    """st["repeats"] transfers of one system over one impairment (seeds 1..repeats, the same for
    every system); stops at the first invalid run."""
    params = CASES[case]
    res = {"system": system.name, "what": system.what, "case": case,
           "impairment": describe(params) + ("" if not params else " (each direction)"),
           "bytes": st["bytes"], "runs": []}
    why = system.missing(paths)
    if why:
        res["skipped"] = why
        return res
    for i in range(st["repeats"]):
        rec = run_one(system, params, paths, st["bytes"], seed=1 + i,
                      timeout_s=st["timeout_s"], log=log)
        res["runs"].append(rec)
        log("netem %s %s run %d: %s" % (case, system.name, i + 1, rec.get("failed") or (
            "%.2f s, %.1f MiB/s, server retransmitted %s segs / %s B, client %s segs / %s B" % (
                rec["seconds"], rec.get("goodput_mib_s") or 0, rec.get("server_retrans_segs"),
                rec.get("server_retrans_bytes"), rec.get("client_retrans_segs"),
                rec.get("client_retrans_bytes")))))
        if rec.get("failed"):
            res["failed"] = "run %d: %s" % (i + 1, rec["failed"])
            break
    res["summary"] = summarize_case(res["runs"])
    return res


def run_all(paths, cfg, log):
    """The matrix: every case of settings(cfg)["cases"] x every netem system, case by case."""
    st = settings(cfg)
    deadline = time.monotonic() + st["budget_s"]
    results = []
    for case in st["cases"]:
        for s in netem_systems():
            if time.monotonic() > deadline:
                results.append({"system": s.name, "what": s.what, "case": case,
                                "impairment": describe(case), "runs": [],
                                "skipped": "the section's time budget (%d s) was used up" %
                                           st["budget_s"]})
                continue
            results.append(run_case(s, case, paths, st, log))
    return {"results": results, "ratios_vs_linux": ratios_vs_linux(results),
            "raw_limit": raw_limit(results), "settings": st,
            "impairments": {c: describe(c) for c in st["cases"]},
            "server_cpu": config.SERVER_CPU, "client_cpu": config.CLIENT_CPU,
            "placement": "server under test in ns B on CPU %d; the Linux client (transfer.py, "
                         "ns A) and the netem relay (netem_relay.py, ns M) share CPU %d" % (
                             config.SERVER_CPU, config.CLIENT_CPU)}


def failures(section):
    """One line per failed (case, system) of run_all's result."""
    return ["netem %s %s: %s" % (r["case"], r["system"], r["failed"])
            for r in (section or {}).get("results", []) if r.get("failed")]
