"""Network comparisons: the raw AF_XDP L2 limit, sockperf ping-pong, and offered-load sweeps with
ix-load against every echo and memcached-protocol system. Every run makes its own namespace pair
(netns.py); servers run in namespace B on the server CPU, clients in namespace A on the client
CPU."""

import json
import os
import subprocess
import sys
import tempfile
import time

from harness import config, netns, parse, proc, stats, sweep, systems

START_TIMEOUT_S = 15


def _wait_listen(pair, port, server, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not server.alive():
            return False
        r = subprocess.run(["ip", "netns", "exec", pair.ns_b, "ss", "-Hltn", "sport = :%d" % port],
                           capture_output=True, text=True, timeout=10)
        if r.stdout.strip():
            return True
        time.sleep(0.1)
    return False


class _Attached:
    """An app attached to a dataplane daemon (ixd), stopped together: the app first, then ixd.
    Quacks like proc.Proc for the callers here (alive, stop, output, popen)."""

    def __init__(self, app, daemon, sock):
        self.app, self.daemon, self.sock = app, daemon, sock
        self.popen = app.popen

    def alive(self):
        return self.app.alive() and self.daemon.alive()

    def stop(self, grace_s=3.0):
        """Exit status of the app, or ixd's if the app's was 0 (the worst of the two)."""
        rc = self.app.stop(grace_s)
        self.daemon_status = self.daemon.stop(grace_s)
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        return rc if rc != 0 else self.daemon_status

    def output(self):
        out, err = self.app.output()
        dout, derr = self.daemon.output()
        return out, (err + "\n" + derr).strip()


def _wait_socket(path, daemon, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and daemon.alive():
        if os.path.exists(path):
            return True
        time.sleep(0.05)
    return os.path.exists(path)


def _start_daemon(system, pair, paths, log):
    """Starts the system's ixd in namespace B on the server CPU; returns (Proc, socket, error)."""
    sock = systems.ixd_socket(pair)
    if os.path.exists(sock):
        os.unlink(sock)
    argv = pair.exec_argv("b", system.daemon_argv(pair, paths), cpu=config.SERVER_CPU)
    log("%s: start %s" % (system.name, " ".join(argv)))
    daemon = proc.Proc(argv, system.name + "-ixd")
    if not _wait_socket(sock, daemon, START_TIMEOUT_S):
        daemon.stop(grace_s=1.0)
        out, err = daemon.output()
        return None, sock, "ixd did not create %s within %d s (exit %s): %s" % (
            sock, START_TIMEOUT_S, daemon.popen.returncode, (out + "\n" + err).strip()[-600:])
    return daemon, sock, ""


def server_argv(system, pair, paths):
    """The full command(s) of a system's server, as the report shows them."""
    cmds = []
    if system.daemon_argv(pair, paths):
        cmds.append(pair.exec_argv("b", system.daemon_argv(pair, paths), cpu=config.SERVER_CPU))
    cmds.append(pair.exec_argv("b", system.argv(pair, paths), cpu=config.SERVER_CPU))
    return " ; ".join(" ".join(c) for c in cmds)


def start_server(system, pair, paths, log):
    """Starts a system's server in namespace B on the server CPU (after its ixd, if it attaches to
    one: both on that CPU); returns (server, error)."""
    daemon = None
    if system.daemon_argv(pair, paths):
        daemon, sock, err = _start_daemon(system, pair, paths, log)
        if daemon is None:
            return None, err
    argv = pair.exec_argv("b", system.argv(pair, paths), cpu=config.SERVER_CPU)
    log("%s: start %s" % (system.name, " ".join(argv)))
    server = proc.Proc(argv, system.name)
    kind, needle = system.ready
    ok = (server.wait_for_line(needle, START_TIMEOUT_S) if kind == "line"
          else _wait_listen(pair, system.port, server, START_TIMEOUT_S))
    if daemon is not None:
        server = _Attached(server, daemon, sock)
        ok = ok and server.alive()
    if not ok:
        server.stop(grace_s=1.0)
        out, err = server.output()
        return None, "did not become ready within %d s (exit %s): %s" % (
            START_TIMEOUT_S, server.popen.returncode, (out + "\n" + err).strip()[-600:])
    return server, ""


def stop_server(server):
    rc = server.stop(grace_s=3.0)
    out, err = server.output()
    res = {"exit_status": rc, "stderr_tail": err[-600:]}
    if isinstance(server, _Attached):
        res["app_exit_status"] = server.app.popen.returncode
        res["ixd_exit_status"] = server.daemon_status
    return res


def run_l2(paths, cfg, log):
    """The raw limit: AF_XDP L2 ping-pong on the same kind of veth link."""
    exe = paths["l2pingpong"]
    res = {"tool": exe, "placement": "reflector in ns B on CPU %d, sender in ns A on CPU %d "
                                     "(both poll their rings)" % (config.SERVER_CPU,
                                                                  config.CLIENT_CPU),
           "sizes": {}}
    if not os.path.exists(exe):
        res["skipped"] = "%s not built" % exe
        return res
    with netns.NetnsPair(server_ip=False) as pair:
        reflect = proc.Proc(pair.exec_argv("b", [exe, "--mode=reflect", "--iface=" + pair.if_b,
                                                 "--max_seconds=600"], cpu=config.SERVER_CPU),
                            "l2-reflect")
        try:
            if not reflect.wait_for_line("ix-l2pingpong: ready", START_TIMEOUT_S):
                out, err = reflect.output()
                res["failed"] = "reflector did not start: " + (out + err)[-600:]
                return res
            for size in cfg["l2_sizes"]:
                runs = []
                for _ in range(cfg["repeats"]):
                    argv = pair.exec_argv("a", [exe, "--mode=send", "--iface=" + pair.if_a,
                                                "--count=%d" % cfg["l2_count"], "--size=%d" % size,
                                                "--max_seconds=60", "--json=-"],
                                          cpu=config.CLIENT_CPU)
                    res["command"] = " ".join(argv)
                    rc, out, err = proc.run(argv, timeout_s=90)
                    try:
                        runs.append(json.loads(out.strip().splitlines()[-1]))
                    except (ValueError, IndexError):
                        res["failed"] = "sender failed (rc %s): %s" % (rc, err[-400:])
                        return res
                    if rc != 0:
                        res["failed"] = "sender exited %s: %s" % (rc, err[-400:])
                ok = [r for r in runs if r["rtt_ns"]["count"] > 0]
                entry = {"runs": [{k: v for k, v in r.items() if k != "cdf"} for r in runs]}
                for key in ("p50", "p90", "p99", "p99.9", "min", "max"):
                    entry[key + "_us"] = stats.summarize([r["rtt_ns"][key] / 1e3 for r in ok])
                if ok:
                    med = sorted(ok, key=lambda r: r["rtt_ns"]["p50"])[len(ok) // 2]
                    entry["cdf_us"] = [[v / 1e3, f] for v, f in med["cdf"]]
                res["sizes"][str(size)] = entry
        finally:
            res["reflector"] = stop_server(reflect)
    return res


def run_sockperf(system, paths, cfg, log, size=64):
    """sockperf ping-pong (TCP, `size`-byte messages, full round trips) against one server that
    answers sockperf's protocol (sockperf's own server, or the sockperf-aware ix echo servers)."""
    res = {"system": system.name if size == 64 else "%s, %d B" % (system.name, size),
           "what": system.what, "size": size,
           "placement": "server in ns B on CPU %d, client in ns A on CPU %d" % (
               config.SERVER_CPU, config.CLIENT_CPU)}
    why = system.missing(paths)
    if why:
        res["skipped"] = why
        return res
    with netns.NetnsPair(server_ip=system.server_ip) as pair:
        server, err = start_server(system, pair, paths, log)
        if server is None:
            res["failed"] = "server " + err
            return res
        runs = []
        try:
            for _ in range(cfg["repeats"]):
                argv = pair.exec_argv("a", ["sockperf", "pp", "--tcp", "-i", pair.ip_b, "-p",
                                            str(system.port), "-t", str(cfg["sockperf_seconds"]),
                                            "-m", str(size), "--full-rtt"], cpu=config.CLIENT_CPU)
                res["client_command"] = " ".join(argv)
                rc, out, err = proc.run(argv, timeout_s=cfg["sockperf_seconds"] + 30)
                try:
                    runs.append(parse.parse_sockperf(out + "\n" + err))
                except ValueError as e:
                    res["failed"] = "sockperf client: %s (rc %s)" % (e, rc)
                    break
        finally:
            res["server"] = stop_server(server)
    res["runs"] = runs
    for key in ("50", "90", "99", "99.9", "min", "max"):
        res["p%s_us" % key if key[0].isdigit() else key + "_us"] = stats.summarize(
            [r["percentiles_us"].get(key) for r in runs])
    if runs:
        res["cdf_us"] = stats.percentile_cdf(runs[len(runs) // 2]["percentiles_us"])
    return res


def _ixload_argv(paths, pair, system, cfg, rate, out_path):
    argv = [paths["ix_load"], "--server=%s:%d" % (pair.ip_b, system.port),
            "--allow_netns_address", "--rate=%d" % rate, "--duration=" + cfg["sweep_duration"],
            "--warmup=" + cfg["sweep_warmup"], "--connections=%d" % cfg["connections"],
            "--interval=0", "--timeout=1s", "--spin=" + config.CLIENT_SPIN, "--json=" + out_path]
    if system.kind == "kv":
        argv += ["--protocol=memcache", "--get_ratio=0.9", "--keys=10000", "--key_size=16",
                 "--value_size=100"]
    else:
        argv += ["--protocol=echo", "--payload_size=64"]
    return pair.exec_argv("a", argv, cpu=config.CLIENT_CPU)


def udp_echo_check(pair, port):
    """UDP echo semantics of the server in namespace B, checked from namespace A."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "udp_echo_check.py")
    rc, out, err = proc.run(pair.exec_argv("a", [sys.executable, script, pair.ip_b, str(port),
                                                 "20"]), timeout_s=30)
    try:
        r = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"failed": "UDP echo check did not run (rc %s): %s" % (rc, err[-300:])}
    if rc != 0:
        r["failed"] = "UDP echo: %d of %d datagrams came back unchanged (%d wrong, %d lost)" % (
            r["echoed"], r["sent"], r["wrong"], r["lost"])
    return r


def run_sweep(system, paths, cfg, log):
    """Offered-load sweep with ix-load against one echo or memcached-protocol system."""
    rates = cfg["kv_rates"] if system.kind == "kv" else cfg["echo_rates"]
    res = {"system": system.name, "kind": system.kind, "what": system.what, "points": [],
           "placement": "server in ns B on CPU %d, ix-load in ns A on CPU %d, polling (--spin=%s)"
                        % (config.SERVER_CPU, config.CLIENT_CPU, config.CLIENT_SPIN)}
    if system.on_ixd:
        res["placement"] += "; ixd (--cpu=%d) and the app attached to it share CPU %d" % (
            config.SERVER_CPU, config.SERVER_CPU)
    why = system.missing(paths)
    if why:
        res["skipped"] = why
        return res
    if not os.path.exists(paths["ix_load"]):
        res["skipped"] = "%s not built" % paths["ix_load"]
        return res
    with netns.NetnsPair(server_ip=system.server_ip) as pair:
        server, err = start_server(system, pair, paths, log)
        if server is None:
            res["failed"] = "server " + err
            return res
        res["server_command"] = server_argv(system, pair, paths)
        try:
            if system.udp_echo:
                res["udp_echo"] = udp_echo_check(pair, system.port)
                log("%s: UDP echo %s" % (system.name, res["udp_echo"].get("failed", "ok")))
                if res["udp_echo"].get("failed"):
                    res["failed"] = res["udp_echo"]["failed"]
            with tempfile.TemporaryDirectory() as d:
                for rate in rates:
                    runs = []
                    for i in range(cfg["sweep_repeats"]):
                        out = os.path.join(d, "%d-%d.json" % (rate, i))
                        argv = _ixload_argv(paths, pair, system, cfg, rate, out)
                        res["client_command"] = " ".join(argv)
                        rc, _, err = proc.run(argv, timeout_s=120)
                        if rc is None or not os.path.exists(out):
                            res["failed"] = "ix-load at %d/s: rc %s: %s" % (rate, rc, err[-400:])
                            break
                        with open(out) as f:
                            runs.append(parse.reduce_ixload(json.load(f)))
                    if not runs or "failed" in res:
                        break
                    point = sweep.make_point(rate, runs)
                    res["points"].append(point)
                    log("%s @ %d/s: achieved %s/s p50 %s us p99 %s us%s" % (
                        system.name, rate, stats.fmt_num(point["achieved"]["median"]),
                        stats.fmt_num(point["p50"]["median"]), stats.fmt_num(point["p99"]["median"]),
                        ("  WRONG: " + "; ".join(point["wrong"]) if point["wrong"]
                         else "  (no answers: saturated)" if point["silent"] else "")))
                    if not server.alive():
                        res["failed"] = "server died during the sweep at %d/s" % rate
                        break
                    if sweep.saturated(point):
                        res["saturated_at"] = rate
                        log("%s: saturated at %d/s (completed %s/s): higher rates skipped" % (
                            system.name, rate, stats.fmt_num(point["achieved"]["median"])))
                        break
        finally:
            res["server"] = stop_server(server)
    res["at_p99_bound"] = sweep.throughput_at_p99(res["points"])
    why = sweep.verdict(res["points"], res["server"]["exit_status"], system.exit_zero)
    if why and "failed" not in res:
        res["failed"] = why
        if "exited" in why:
            res["failed"] += ": " + res["server"]["stderr_tail"][-300:]
    return res
