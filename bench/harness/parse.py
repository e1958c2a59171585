"""Pure parsers for the outputs bench/run collects: sockperf text, ix-load JSON reports,
`ix-run --info`, and the JSON of ix-bench-syscall / ix-bench-dune-vm / ix-l2pingpong. No I/O."""

import re

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def strip_ansi(text):
    return _ANSI.sub("", text)


def parse_sockperf(text):
    """Parses a `sockperf ping-pong --full-rtt` (or under-load) client report.

    Returns {"valid_runtime_s", "sent", "received", "avg_us", "stddev_us", "dropped",
    "percentiles_us": {"min":.., "25":.., "50":.., ..., "max":..}, "rtt": bool} or raises
    ValueError if the text holds no statistics (server down, test failed). Latencies are whatever
    sockperf printed: round trips with --full-rtt ("avg-rtt"), half round trips otherwise
    ("avg-latency"); "rtt" tells which.
    """
    text = strip_ansi(text)
    out = {"percentiles_us": {}}
    m = re.search(r"\[Valid Duration\] RunTime=([\d.]+) sec; SentMessages=(\d+); "
                  r"ReceivedMessages=(\d+)", text)
    if m:
        out["valid_runtime_s"] = float(m.group(1))
        out["sent"] = int(m.group(2))
        out["received"] = int(m.group(3))
    m = re.search(r"avg-(rtt|latency)=([\d.]+) \(std-dev=([\d.]+)\)", text)
    if not m:
        raise ValueError("sockperf output has no latency statistics")
    out["rtt"] = m.group(1) == "rtt"
    out["avg_us"] = float(m.group(2))
    out["stddev_us"] = float(m.group(3))
    m = re.search(r"# dropped messages = (\d+)", text)
    out["dropped"] = int(m.group(1)) if m else None
    for m in re.finditer(r"---> percentile ([\d.]+) =\s*([\d.]+)", text):
        label = m.group(1).rstrip("0").rstrip(".")
        out["percentiles_us"][label] = float(m.group(2))
    m = re.search(r"---> <MAX> observation =\s*([\d.]+)", text)
    if m:
        out["percentiles_us"]["max"] = float(m.group(1))
    m = re.search(r"---> <MIN> observation =\s*([\d.]+)", text)
    if m:
        out["percentiles_us"]["min"] = float(m.group(1))
    if "50" not in out["percentiles_us"]:
        raise ValueError("sockperf output has no median")
    return out


def reduce_ixload(report):
    """The fields of one ix-load JSON report that the harness keeps (see bench/load/README.md).

    Returns {"offered_rate", "achieved_send_rate", "completed_rate", "latency_us": {...},
    "send_lag_p50_us", "ok", "errors", "timeouts", "unsent", "protocol_errors",
    "connect_errors", "hits", "misses", "wrong": bool, "wrong_reason": str, "silent": bool}.
    "wrong" is set when the server answered wrongly (bad data, server or protocol errors);
    "silent" when it answered nothing at all (broken at low load, saturated at high load: the
    caller decides).
    """
    req = report.get("requests", {})
    conns = report.get("connections", {})
    mc = report.get("memcache", {})
    out = {
        "offered_rate": report.get("offered_rate"),
        "achieved_send_rate": report.get("achieved_send_rate"),
        "completed_rate": report.get("completed_rate"),
        "latency_us": dict(report.get("latency_us", {})),
        "send_lag_p50_us": report.get("send_lag_us", {}).get("p50"),
        "ok": req.get("ok", 0),
        "errors": req.get("errors", 0),
        "bad_data": req.get("bad_data", 0),
        "server_errors": req.get("server_errors", 0),
        "timeouts": req.get("timeouts", 0),
        "unsent": req.get("unsent", 0),
        "protocol_errors": conns.get("protocol_errors", 0),
        "connect_errors": conns.get("connect_errors", 0),
        "hits": mc.get("hits"),
        "misses": mc.get("misses"),
    }
    reasons = []
    if out["bad_data"]:
        reasons.append("%d replies with wrong data" % out["bad_data"])
    if out["server_errors"]:
        reasons.append("%d server errors" % out["server_errors"])
    if out["protocol_errors"]:
        reasons.append("%d protocol errors" % out["protocol_errors"])
    out["silent"] = out["ok"] == 0
    out["wrong"] = bool(reasons)
    out["wrong_reason"] = "; ".join(reasons)
    return out


def parse_ixrun_info(text):
    """`ix-run --info` lines ("Key:   value") as a dict with snake_case keys."""
    info = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        key, value = line.split(":", 1)
        key = re.sub(r"[^a-z0-9]+", "_", key.strip().lower()).strip("_")
        if key:
            info[key] = value.strip()
    return info


def ixrun_blocker(returncode, stderr):
    """Why KVM is unusable according to one `ix-run --info` run, or "" if it exited 0.

    The reason is ix-run's own: its last stderr line saying "cannot use KVM" (else its last
    stderr line), without the "ix-run: " prefix; "ix-run --info exited N" if stderr is empty."""
    if returncode == 0:
        return ""
    lines = [l.strip() for l in strip_ansi(stderr or "").splitlines() if l.strip()]
    pick = [l for l in lines if "cannot use KVM" in l] or lines
    if not pick:
        return "ix-run --info exited %s" % returncode
    reason = pick[-1]
    return reason[len("ix-run: "):] if reason.startswith("ix-run: ") else reason


# Display order of the micro figures (JSON objects come back sorted by name).
MICRO_ORDER = ["native", "ix_ring3", "raw_exit_ring3", "ix_null_ring3", "ix_ring0",
               "raw_exit_ring0", "ptrace", "trap", "prot1", "protN", "unprot", "appel1", "appel2"]


def micro_figures(report, unit_key="median_ns"):
    """{name: {"median", "min", "max"}} in ns from an ix-bench-syscall or ix-bench-dune-vm JSON
    report, in MICRO_ORDER (unknown names last); measurements the tool marked failed (negative)
    become None."""
    out = {}
    figs = report.get("figures", {})
    order = sorted(figs, key=lambda n: (MICRO_ORDER.index(n) if n in MICRO_ORDER
                                        else len(MICRO_ORDER), n))
    for name in order:
        fig = figs[name]
        def clean(v):
            return None if v is None or v < 0 else float(v)
        out[name] = {"median": clean(fig.get(unit_key)), "min": clean(fig.get("min_ns")),
                     "max": clean(fig.get("max_ns"))}
    return out
