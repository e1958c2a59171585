"""Pure logic of an offered-load sweep: one point from its repeated ix-load runs, when to stop,
and the verdict on the system (no I/O; net.run_sweep does the running)."""

from harness import stats

# A sweep stops once a system completes less than this fraction of the offered load: higher
# rates would only measure its collapse, at the cost of minutes of timeouts.
SATURATED_FRACTION = 0.5


def make_point(rate, runs):
    """One sweep point from the parse.reduce_ixload() results of its repeated runs."""
    point = {"rate": rate, "runs": runs,
             "achieved": stats.summarize([r["completed_rate"] for r in runs]),
             "wrong": [r["wrong_reason"] for r in runs if r["wrong"]],
             "silent": bool(runs) and all(r["silent"] for r in runs),
             "timeouts": sum(r["timeouts"] for r in runs)}
    for key in ("p50", "p90", "p99", "p99.9", "min", "max"):
        point[key] = stats.summarize([r["latency_us"].get(key) for r in runs if r["ok"] > 0])
    return point


def saturated(point):
    """Whether the system completed less than SATURATED_FRACTION of the offered rate."""
    return (point["achieved"]["median"] or 0) < SATURATED_FRACTION * point["rate"]


def verdict(points, exit_status=None, exit_zero=False):
    """Why the system failed, or '' if it did not.

    Failed: any wrong answer (bad data, server or protocol errors); no answer at all at the
    lowest offered load (silence at higher loads is saturation, reported but not a failure); a
    non-zero exit status on SIGTERM when the system's contract promises 0.
    """
    wrong = [w for p in points for w in p["wrong"]]
    if wrong:
        return "answered wrongly: " + "; ".join(wrong[:3])
    if points and points[0]["silent"]:
        return "answered no request at %d/s" % points[0]["rate"]
    if exit_zero and exit_status is not None and exit_status != 0:
        return "server exited with status %s on SIGTERM (its contract: 0)" % exit_status
    return ""


# Throughput at a latency bound: the highest achieved rate of a point whose median p99 is within
# P99_BOUND_US and that completed at least KEPT_FRACTION of its offered load without wrong answers.
P99_BOUND_US = 500.0
KEPT_FRACTION = 0.9


def throughput_at_p99(points, bound_us=P99_BOUND_US):
    """{"bound_us", "throughput", "rate", "p99_us", "beyond_sweep"} for the best point within
    the bound (throughput None if none is); beyond_sweep is True when even the highest offered
    rate of the sweep stayed within the bound (the figure is then a lower bound)."""
    best = None
    for p in points:
        p99, got = p["p99"]["median"], p["achieved"]["median"]
        if (p99 is None or got is None or p["wrong"] or p99 > bound_us
                or got < KEPT_FRACTION * p["rate"]):
            continue
        if best is None or got > best["achieved"]["median"]:
            best = p
    out = {"bound_us": bound_us, "throughput": None, "rate": None, "p99_us": None,
           "beyond_sweep": False}
    if best is not None:
        out.update(throughput=best["achieved"]["median"], rate=best["rate"],
                   p99_us=best["p99"]["median"],
                   beyond_sweep=best["rate"] == max(p["rate"] for p in points))
    return out


def kv_comparison(sweeps, memcached="memcached", lib="ix-kv", ixd="ixd-kv", ixd_slack=0.2):
    """Issue 4's figures from the kv sweeps: throughput at the p99 bound of each system, the
    ratios ix-kv(lib)/memcached, ix-kv(ixd)/memcached, ix-kv(ixd)/ix-kv(lib), and the goals (ix
    ahead of memcached; ixd within ixd_slack of library mode). A ratio or goal is None when a
    side has no figure."""
    names = (memcached, lib, ixd)
    bounds = {s["system"]: s.get("at_p99_bound") or {} for s in sweeps if s["system"] in names}
    tput = {n: b.get("throughput") for n, b in bounds.items()}
    lower = {n: bool(b.get("beyond_sweep")) for n, b in bounds.items()}
    pairs = ((lib, memcached), (ixd, memcached), (ixd, lib))
    ratios = {"%s/%s" % p: stats.ratio(tput.get(p[0]), tput.get(p[1])) for p in pairs}

    def decide(a, b, at_least, strict):
        return reaches(ratios["%s/%s" % (a, b)], lower.get(a, False), lower.get(b, False),
                       at_least, strict)
    goals = {"ix-kv (library) ahead of memcached": decide(lib, memcached, 1.0, True),
             "ix-kv on ixd ahead of memcached": decide(ixd, memcached, 1.0, True),
             "ixd within %d%% of library mode" % round(ixd_slack * 100):
                 decide(ixd, lib, 1.0 - ixd_slack, False)}
    by_name = {s["system"]: s for s in sweeps}
    for name, label in ((lib, "ix-kv (library)"), (ixd, "ix-kv on ixd")):
        below = p99_below(by_name.get(name), by_name.get(memcached))
        goals["%s p99 below memcached's at every common offered load" % label] = below
    return {"throughput_at_p99": tput, "lower_bound": lower, "ratios": ratios, "goals": goals}


def reaches(r, a_lower, b_lower, at_least, strict):
    """Whether the true ratio a/b reaches at_least (> if strict), given the measured ratio r and
    which of a, b are only lower bounds (their sweep ended within the bound): None when r is
    missing or the bounds leave it open."""
    if r is None:
        return None
    ok = r > at_least if strict else r >= at_least
    if a_lower and b_lower:
        return None
    if a_lower:   # the true ratio is at least r
        return True if ok else None
    if b_lower:   # the true ratio is at most r
        return False if not ok else None
    return ok


def p99_below(sweep_a, sweep_b):
    """Whether sweep_a's median p99 is below sweep_b's at every offered rate both answered (a
    rate where only b fell silent counts for a, only a for b); None with no common rate."""
    if not sweep_a or not sweep_b:
        return None
    b_pts = {p["rate"]: p for p in sweep_b.get("points", [])}
    verdicts = []
    for p in sweep_a.get("points", []):
        q = b_pts.get(p["rate"])
        if q is None:
            continue
        a99, b99 = p["p99"]["median"], q["p99"]["median"]
        if a99 is None and b99 is None:
            continue
        verdicts.append(b99 is None or (a99 is not None and a99 < b99))
    return all(verdicts) if verdicts else None
