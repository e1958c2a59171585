"""PNG plots of a results dict with Debian's matplotlib (Agg backend, no display): micro figures,
latency versus throughput curves, and latency CDFs. Returns the file names written."""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from harness import stats  # noqa: E402


def _save(fig, out_dir, name, written):
    path = os.path.join(out_dir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(name)


def _micro(res, out_dir, written):
    s = (res.get("syscall") or {}).get("figures", {})
    d = (res.get("dune") or {}).get("modes", {})
    if not s and not d:
        return
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    if s:
        names = [n for n, f in s.items() if f["median"]]
        med = [s[n]["median"] / 1e3 for n in names]
        err = [[(s[n]["median"] - s[n]["min"]) / 1e3 for n in names],
               [(s[n]["max"] - s[n]["median"]) / 1e3 for n in names]]
        axes[0].barh(names, med, xerr=err, color="tab:blue")
        axes[0].set_xscale("log")
        axes[0].set_xlabel("µs per call (log)")
        axes[0].set_title("syscall forwarding")
    nat = d.get("native", {}).get("figures", {})
    ixr = d.get("ix-run", {}).get("figures", {})
    if nat:
        names = list(nat)
        y = range(len(names))
        axes[1].barh([i + 0.2 for i in y], [nat[n]["median"] / 1e3 if nat[n]["median"] else 0
                                             for n in names], height=0.4, label="native")
        if ixr:
            axes[1].barh([i - 0.2 for i in y],
                         [ixr.get(n, {}).get("median", 0) / 1e3 if ixr.get(n, {}).get("median")
                          else 0 for n in names], height=0.4, label="ix-run (guest ring 3)")
        axes[1].set_yticks(list(y))
        axes[1].set_yticklabels(names)
        axes[1].set_xscale("log")
        axes[1].set_xlabel("µs per operation (log)")
        axes[1].set_title("Dune / Appel-Li VM primitives")
        axes[1].legend()
    _save(fig, out_dir, "micro.png", written)


def _curves(res, key, title, name, out_dir, written):
    sweeps = [s for s in res.get(key, []) if s.get("points")]
    if not sweeps:
        return
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharex=True)
    for s in sweeps:
        pts = [p for p in s["points"] if p["p50"]["median"] is not None]
        x = [p["achieved"]["median"] for p in pts]
        for ax, pct in ((axes[0], "p50"), (axes[1], "p99")):
            y = [p[pct]["median"] for p in pts]
            lo = [p[pct]["median"] - p[pct]["min"] for p in pts]
            hi = [p[pct]["max"] - p[pct]["median"] for p in pts]
            ax.errorbar(x, y, yerr=[lo, hi], marker="o", capsize=3, label=s["system"])
    limit = None
    sizes = (res.get("l2") or {}).get("sizes", {})
    if sizes:
        limit = sizes[sorted(sizes, key=int)[0]]["p50_us"]["median"]
    for ax, pct in ((axes[0], "p50"), (axes[1], "p99")):
        if limit:
            ax.axhline(limit, color="gray", linestyle="--", label="L2 limit (p50 RTT)")
        ax.set_yscale("log")
        ax.set_xlabel("achieved throughput (requests/s)")
        ax.set_ylabel("%s latency (µs, log)" % pct)
        ax.set_title("%s: %s" % (title, pct))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    _save(fig, out_dir, name, written)


def _cdfs(res, out_dir, written):
    series = []
    for size, e in (res.get("l2") or {}).get("sizes", {}).items():
        if e.get("cdf_us"):
            series.append(("L2 AF_XDP %s B" % size, e["cdf_us"]))
    for r in res.get("sockperf", []):
        if r.get("cdf_us"):
            series.append(("sockperf pp: " + r["system"], r["cdf_us"]))
    for key in ("echo", "kv"):
        for s in res.get(key, []):
            if s.get("points"):
                p = s["points"][0]
                run = p["runs"][len(p["runs"]) // 2]
                series.append(("%s @ %d/s" % (s["system"], p["rate"]),
                               stats.percentile_cdf(run["latency_us"])))
    if not series:
        return
    fig, ax = plt.subplots(figsize=(9, 5))
    for label, pts in series:
        pts = [p for p in pts if p[0] > 0]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("round-trip latency (µs, log)")
    ax.set_ylabel("fraction of requests")
    ax.set_title("Latency CDFs (sweeps: lowest offered load; coarse, from percentiles)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, out_dir, "cdf.png", written)


def make_all(res, out_dir):
    written = []
    _micro(res, out_dir, written)
    _curves(res, "echo", "echo 64 B", "echo_latency_vs_throughput.png", out_dir, written)
    _curves(res, "kv", "memcached protocol", "kv_latency_vs_throughput.png", out_dir, written)
    _cdfs(res, out_dir, written)
    return written
