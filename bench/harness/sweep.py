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
