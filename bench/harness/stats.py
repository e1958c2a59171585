"""Pure summary statistics for repeated measurements: median, spread, ratios. No I/O."""

import math


def _quantile(sorted_vals, q):
    """Linear-interpolated quantile q in [0, 1] of an already sorted, non-empty list."""
    if len(sorted_vals) == 1:
        return float(sorted_vals[0])
    pos = q * (len(sorted_vals) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_vals) - 1)
    frac = pos - lo
    return float(sorted_vals[lo]) * (1 - frac) + float(sorted_vals[hi]) * frac


def summarize(values):
    """Summary of repeated runs of one figure.

    Returns {"n", "median", "min", "max", "q1", "q3", "runs"}; None values (failed runs) are
    dropped, and an empty input gives n = 0 with every statistic None.
    """
    runs = [float(v) for v in values if v is not None]
    if not runs:
        return {"n": 0, "median": None, "min": None, "max": None, "q1": None, "q3": None,
                "runs": []}
    s = sorted(runs)
    return {"n": len(s), "median": _quantile(s, 0.5), "min": s[0], "max": s[-1],
            "q1": _quantile(s, 0.25), "q3": _quantile(s, 0.75), "runs": runs}


def ratio(numerator, denominator):
    """numerator / denominator, or None if either is missing or the denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return float(numerator) / float(denominator)


def fmt_ratio(r):
    """'1.23x', or '-' for None."""
    return "-" if r is None else "%.2fx" % r


def fmt_num(v, digits=1):
    """A number for a table cell: thousands separated, '-' for None."""
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return "{:,.0f}".format(v)
    return ("{:.%df}" % digits).format(v)


def fmt_spread(summary, digits=1):
    """'median (min..max)' of a summarize() result, '-' when there were no runs."""
    if not summary or summary.get("n", 0) == 0:
        return "-"
    if summary["n"] == 1:
        return fmt_num(summary["median"], digits)
    return "%s (%s..%s)" % (fmt_num(summary["median"], digits), fmt_num(summary["min"], digits),
                            fmt_num(summary["max"], digits))


def percentile_cdf(percentiles):
    """CDF points [(value, fraction)] from a {label: value} percentile map.

    Labels: "min" (fraction 0), "max" (1), "p50", "p99.9", or bare numbers "50", "99.900".
    Points are sorted by fraction; unknown labels are ignored.
    """
    pts = []
    for label, value in percentiles.items():
        if value is None:
            continue
        key = str(label).strip().lower()
        if key == "min":
            frac = 0.0
        elif key == "max":
            frac = 1.0
        else:
            try:
                frac = float(key[1:] if key.startswith("p") else key) / 100.0
            except ValueError:
                continue
        if 0.0 <= frac <= 1.0:
            pts.append((float(value), frac))
    pts.sort(key=lambda p: (p[1], p[0]))
    return pts
