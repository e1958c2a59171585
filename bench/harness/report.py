"""report.md from the results dict bench/run builds (pure: dict in, Markdown text out)."""

from harness import parse, stats

MICRO_NOTE = ("Every micro figure is the median of the repeated runs, with min..max in "
              "parentheses.")


def _cpu_share(c):
    if not c:
        return "-"
    return "%.0f %% busy, %.0f %% idle, %.0f %% stolen by the hypervisor" % (
        c["busy"], c["idle"], c["steal"])


def micro_skips(res):
    """One line per micro measurement skipped because KVM is unusable here (micro.py): the
    ix-bench-syscall figures in "skipped_figures" and the Dune bench's ix-run mode."""
    out = ["syscall %s: %s" % (name, why)
           for name, why in (res.get("syscall") or {}).get("skipped_figures", {}).items()]
    if (res.get("dune") or {}).get("ixrun_skipped"):
        out.append("dune ix-run: %s" % res["dune"]["ixrun_skipped"])
    return out


def _machine(res):
    m = res["machine"]
    kvm = m.get("kvm") or {}
    blocker = (res.get("paths") or {}).get("kvm_blocker")
    lines = ["## Machine and command", "",
             "| | |", "|---|---|",
             "| CPU | %s |" % m.get("cpu_model"),
             "| cores | %s |" % m.get("cores"),
             "| kernel | %s |" % m.get("kernel"),
             "| KVM backend | %s |" % kvm.get("kvm_backend", "unknown (ix-run --info failed)"),
             "| KVM usable (`ix-run --info`) | %s |" % (
                 "no: " + blocker if blocker else "yes" if "paths" in res else "-"),
             "| ix-run default ring | %s |" % kvm.get("default_ring", "-"),
             "| sockperf | %s |" % (m.get("tools", {}).get("sockperf") or "-"),
             "| memcached | %s |" % (m.get("tools", {}).get("memcached") or "-"),
             "| started (UTC) | %s |" % m.get("utc_start"),
             "| mode | %s |" % res.get("mode"),
             "| load average at start / end | %s / %s |" % (m.get("loadavg_start"),
                                                          m.get("loadavg_end")),
             "| CPU time during the run | %s |" % _cpu_share(m.get("cpu_share_percent")),
             "", "Command: `%s`" % m.get("command"), ""]
    # The run itself keeps up to two cores busy, so only the load before it says "shared".
    busy = (m.get("loadavg_start") or [0])[0]
    if m.get("cores") and busy > 0.5 * m["cores"]:
        lines += ["**Warning**: the machine was busy with other work when the run started "
                  "(1-minute load average %.1f on %d cores); figures are noisier and slower than "
                  "on an idle machine." % (busy, m["cores"]), ""]
    lines += ["Placement: %s" % res.get("placement", ""), ""]
    return lines


def _syscall(res):
    s = res.get("syscall") or {}
    out = ["## Syscall forwarding (ix-bench-syscall)", ""]
    if s.get("skipped"):
        return out + ["Skipped: %s" % s["skipped"], ""]
    if s.get("failed"):
        out += ["**FAILED**: %s" % s["failed"], ""]
    figs = s.get("figures", {})
    skipped = s.get("skipped_figures", {})
    raw = s.get("raw", {}).get("figures", {})
    out += ["%s Placement: %s. Command: `%s`" % (MICRO_NOTE, s.get("placement"), s.get("command")),
            "", "| figure | ns per call | what |", "|---|---|---|"]
    order = {n: i for i, n in enumerate(parse.MICRO_ORDER)}
    for name in sorted(list(figs) + [n for n in skipped if n not in figs],
                       key=lambda n: (order.get(n, len(order)), n)):
        f = figs.get(name)
        if f is None:
            cell = "skipped: %s" % skipped[name]
        elif f["median"]:
            cell = stats.fmt_spread({"n": 2 if f["min"] != f["max"] else 1,
                                     "median": f["median"], "min": f["min"], "max": f["max"]}, 0)
        else:
            cell = "failed"
        out.append("| %s | %s | %s |" % (name, cell, raw.get(name, {}).get("what", "")))
    out += [""]
    if skipped:
        out += ["Ratios that need a skipped figure are left out%s." % (
            "" if s.get("ratios") else ": here all of them"), ""]
    if s.get("ratios") or not skipped:
        out += ["| ratio | value |", "|---|---|"]
        for k, v in s.get("ratios", {}).items():
            out.append("| %s | %s |" % (k, stats.fmt_ratio(v if v is not None and v >= 0
                                                           else None)))
        out.append("")
    return out


def _dune(res):
    d = res.get("dune") or {}
    out = ["## VM primitives of the Dune paper (ix-bench-dune-vm)", ""]
    if d.get("skipped"):
        return out + ["Skipped: %s" % d["skipped"], ""]
    if d.get("failed"):
        out += ["**FAILED**: %s" % d["failed"], ""]
    modes = d.get("modes", {})
    nat = modes.get("native", {}).get("figures", {})
    ixr = modes.get("ix-run", {}).get("figures", {})
    out += [MICRO_NOTE + " ns per operation; native = SIGSEGV + mprotect on the host, ix-run = the "
            "same binary in guest ring 3, where each fault goes through the VMM's exception to "
            "signal path and each mprotect is a forwarded syscall.", ""]
    for mode, e in modes.items():
        out.append("- %s: `%s`" % (mode, e.get("command")))
    if d.get("ixrun_skipped"):
        out.append("- ix-run skipped: %s" % d["ixrun_skipped"])
    out += ["", "| figure | native ns | ix-run ns | ix-run / native |", "|---|---|---|---|"]
    for name, f in nat.items():
        g = ixr.get(name, {})
        out.append("| %s | %s | %s | %s |" % (
            name, _spread3(f, 0), "skipped" if d.get("ixrun_skipped") else _spread3(g, 0),
            stats.fmt_ratio(d.get("ratios_ixrun_over_native", {}).get(name))))
    return out + [""]


def _spread3(f, digits):
    if not f or f.get("median") is None:
        return "-"
    return stats.fmt_spread({"n": 2, "median": f["median"], "min": f["min"], "max": f["max"]},
                            digits)


def _l2(res):
    if "l2" not in res:
        return []
    l2 = res.get("l2") or {}
    out = ["## The limit: AF_XDP L2 ping-pong (ix-l2pingpong)", ""]
    if l2.get("skipped"):
        return out + ["Skipped: %s" % l2["skipped"], ""]
    if l2.get("failed"):
        out += ["**FAILED**: %s" % l2["failed"], ""]
    out += ["Round trips in µs, median of runs (min..max). Placement: %s. Command: `%s`" % (
        l2.get("placement"), l2.get("command")), "",
        "| frame bytes | p50 | p99 | p99.9 | min |", "|---|---|---|---|---|"]
    for size, e in l2.get("sizes", {}).items():
        out.append("| %s | %s | %s | %s | %s |" % (size, stats.fmt_spread(e["p50_us"], 2),
                                                  stats.fmt_spread(e["p99_us"], 2),
                                                  stats.fmt_spread(e["p99.9_us"], 2),
                                                  stats.fmt_spread(e["min_us"], 2)))
    return out + [""]


def limit_p50_us(res):
    """p50 RTT of the smallest L2 frame size, the denominator of every ix/limit ratio."""
    sizes = (res.get("l2") or {}).get("sizes", {})
    if not sizes:
        return None
    smallest = sorted(sizes, key=int)[0]
    return sizes[smallest]["p50_us"].get("median")


def _sockperf(res):
    if "sockperf" not in res:
        return []
    out = ["## sockperf ping-pong (TCP round trips; 64 B unless the size is named)", ""]
    limit = limit_p50_us(res)
    rows = ["| server | p50 µs | p99 µs | p99.9 µs | p50 / L2 limit |", "|---|---|---|---|---|"]
    notes = []
    for r in res.get("sockperf", []):
        if r.get("skipped"):
            notes.append("- %s skipped: %s" % (r["system"], r["skipped"]))
            continue
        if r.get("failed"):
            notes.append("- %s **FAILED**: %s" % (r["system"], r["failed"]))
        rows.append("| %s | %s | %s | %s | %s |" % (
            r["system"], stats.fmt_spread(r.get("p50_us"), 1), stats.fmt_spread(r.get("p99_us"), 1),
            stats.fmt_spread(r.get("p99.9_us"), 1),
            stats.fmt_ratio(stats.ratio((r.get("p50_us") or {}).get("median"), limit))))
    if res.get("sockperf"):
        out.append("Client: `%s`" % res["sockperf"][0].get("client_command", "-"))
        out.append("")
    return out + rows + [""] + notes + [""]


def sweep_ratio_rows(sweeps, baseline_name, limit):
    """Rows (system, rate, p50 ratio vs baseline, p99 ratio vs baseline, p50 / limit), the
    baseline's own rows included (ratio 1 against itself, and its distance to the limit)."""
    base = next((s for s in sweeps if s["system"] == baseline_name), None)
    base_pts = {p["rate"]: p for p in (base or {}).get("points", [])}
    rows = []
    for s in sweeps:
        for p in s.get("points", []):
            b = base_pts.get(p["rate"])
            rows.append((s["system"], p["rate"],
                         stats.ratio(p["p50"]["median"], b["p50"]["median"]) if b else None,
                         stats.ratio(p["p99"]["median"], b["p99"]["median"]) if b else None,
                         stats.ratio(p["p50"]["median"], limit)))
    return rows


def at_bound_rows(sweeps):
    """Table of each system's throughput at its p99 bound (sweep.throughput_at_p99)."""
    ran = [s for s in sweeps if s.get("at_p99_bound")]
    if not ran:
        return []
    bound = ran[0]["at_p99_bound"]["bound_us"]
    out = ["Throughput at p99 ≤ %s µs: the highest achieved rate of a point with median p99 "
           "within the bound that completed at least 90 %% of its offered load "
           "(≥: the sweep ended still within the bound)." % stats.fmt_num(bound, 0), "",
           "| system | throughput /s at p99 ≤ %s µs | offered /s | p99 µs |" % stats.fmt_num(
               bound, 0), "|---|---|---|---|"]
    for s in ran:
        b = s["at_p99_bound"]
        if b["throughput"] is None:
            out.append("| %s | none within the bound | - | - |" % s["system"])
            continue
        out.append("| %s | %s%s | %s | %s |" % (
            s["system"], "≥ " if b["beyond_sweep"] else "", stats.fmt_num(b["throughput"]),
            stats.fmt_num(b["rate"]), stats.fmt_num(b["p99_us"])))
    return out + [""]


def _yes_no(v):
    return "n/a" if v is None else ("**yes**" if v else "**no**")


def kv_comparison_lines(cmp):
    """Issue 4's summary: throughput at the p99 bound, the three ratios and the goals."""
    if not cmp:
        return []
    out = ["### ix-kv versus memcached (issue 4)", "",
           "| throughput at the p99 bound | value |", "|---|---|"]
    for name, t in cmp["throughput_at_p99"].items():
        lb = "≥ " if cmp.get("lower_bound", {}).get(name) else ""
        out.append("| %s | %s |" % (name, lb + stats.fmt_num(t) + " /s" if t is not None else "-"))
    for name, r in cmp["ratios"].items():
        out.append("| %s | %s |" % (name, stats.fmt_ratio(r)))
    out += ["", "Goals (n/a: a figure is missing, or only lower bounds (≥) that cannot decide it; "
            "the p99 goals compare the median p99 at every offered load both systems ran):", "",
            "| goal | met |", "|---|---|"]
    for goal, v in cmp["goals"].items():
        out.append("| %s | %s |" % (goal, _yes_no(v)))
    return out + [""]


def _sweeps(res, key, title, baseline):
    if key not in res:
        return []
    sweeps = res.get(key, [])
    out = ["## %s" % title, ""]
    ran = [s for s in sweeps if s.get("points")]
    if ran:
        out += ["Open-loop ix-load, latency in µs from the scheduled send time, median of runs "
                "(min..max). Client: `%s`" % ran[0].get("client_command"), ""]
    out += ["| system | offered /s | achieved /s | p50 | p99 | p99.9 | timeouts | wrong |",
            "|---|---|---|---|---|---|---|---|"]
    notes = []
    for s in sweeps:
        if s.get("skipped"):
            notes.append("- %s skipped: %s" % (s["system"], s["skipped"]))
            continue
        if s.get("failed"):
            notes.append("- %s **FAILED**: %s" % (s["system"], s["failed"]))
        if s.get("saturated_at"):
            notes.append("- %s saturated at %s/s (completed under half the offered load); "
                         "higher rates not run" % (s["system"], stats.fmt_num(s["saturated_at"])))
        for p in s.get("points", []):
            out.append("| %s | %s | %s | %s | %s | %s | %d | %s |" % (
                s["system"], stats.fmt_num(p["rate"]), stats.fmt_spread(p["achieved"], 0),
                stats.fmt_spread(p["p50"]), stats.fmt_spread(p["p99"]),
                stats.fmt_spread(p["p99.9"]), p["timeouts"],
                "; ".join(p["wrong"]) or ("no answers" if p.get("silent") else "no")))
    out += [""] + notes + [""]
    out += at_bound_rows(sweeps)
    rows = sweep_ratio_rows(sweeps, baseline, limit_p50_us(res))
    if rows:
        out += ["Ratios against %s at the same offered load, and against the L2 limit:" % baseline,
                "", "| system | offered /s | p50 / %s | p99 / %s | p50 / L2 limit |" % (
                    baseline, baseline), "|---|---|---|---|---|"]
        for name, rate, r50, r99, rl in rows:
            out.append("| %s | %s | %s | %s | %s |" % (name, stats.fmt_num(rate),
                                                       stats.fmt_ratio(r50), stats.fmt_ratio(r99),
                                                       stats.fmt_ratio(rl)))
        out.append("")
    for s in sweeps:
        u = s.get("udp_echo")
        if u and "sent" in u:
            out.append("- %s UDP echo check: %d of %d datagrams (6..1400 B) back unchanged, "
                       "median RTT %s µs (one at a time, from a sleeping Python client)" % (
                           s["system"], u["echoed"], u["sent"], stats.fmt_num(u["rtt_us_median"])))
    for s in sweeps:
        if "ixd" in s.get("placement", ""):
            out.append("- %s placement: %s" % (s["system"], s["placement"]))
    for s in sweeps:
        if s.get("server_command"):
            out.append("- %s server: `%s`" % (s["system"], s["server_command"]))
    return out + [""]


def _sack_cell(runs):
    vals = {r.get("sack_negotiated") for r in runs if r.get("ok")}
    if len(vals) != 1 or None in vals:
        return "-" if not vals or vals == {None} else "mixed"
    return "on" if vals.pop() else "off"


def netem_lines(section):
    """The netem section: per case and system, completion time, goodput, retransmissions of the
    server under test and of the Linux client, and ratios against Linux in the same case."""
    if section is None:
        return []
    st = section.get("settings", {})
    results = section.get("results", [])
    out = ["## Impaired links: bulk transfers with and without SACK (netem)", "",
           "A Linux client (`bench/harness/transfer.py`) sends %s of a reproducible pattern "
           "through each echo server and reads them back, checked byte for byte; completion "
           "time runs from connect() to the last echoed byte, goodput is the bytes sent over "
           "that time. The kernel has no sch_netem, so `bench/harness/netem_relay.py` in a middle "
           "namespace impairs both directions (A -- M -- B), with the same seeded decisions for "
           "every system. The relay is one Python thread sharing CPU %s with the client: it is "
           "the bottleneck, the same for every system (the \"none\" case is that raw limit), so "
           "compare systems with each other, not with a real link. Placement: %s." % (
               _bytes_text(st.get("bytes")), section.get("client_cpu", "-"),
               section.get("placement")), "",
           "Median of %s run(s) (min..max), seeds 1..%s. Retransmissions: *server* is the system "
           "under test (ix-echo's own tcp.retransmits and tcp.retransmitted_bytes; Linux: "
           "namespace B's Tcp RetransSegs and the socket's `ss -ti` bytes_retrans), *client* the "
           "Linux client's TCP_INFO (tcpi_total_retrans, tcpi_bytes_retrans). SACK: as the "
           "handshake agreed (the client's TCP_INFO). Ratios: median / median of linux-epoll in "
           "the same case (- where Linux's figure is 0)." % (st.get("repeats"),
                                                              st.get("repeats")), ""]
    lim = section.get("raw_limit")
    if lim:
        out += ["Raw limit (case none, no impairment): %s MiB/s goodput each way (%s), the relay "
                "forwarding %s frames/s (%s MiB/s, both directions together)." % (
                    stats.fmt_num(lim["goodput_mib_s"]), lim["system"],
                    stats.fmt_num(lim["relay_frames_per_s"], 0), stats.fmt_num(lim["relay_mib_s"])),
                ""]
    out += ["| case | impairment (each direction) |", "|---|---|"]
    for case, what in section.get("impairments", {}).items():
        out.append("| %s | %s |" % (case, what if what != "none" else
                                    "none: the relay only (raw limit)"))
    out += ["", "| case | system | SACK | time s | goodput MiB/s | server retrans segs | server "
            "retrans bytes | client retrans segs | client retrans bytes | server RTOs | "
            "time / Linux | server retrans bytes / Linux | all retrans bytes / Linux |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    ratios = section.get("ratios_vs_linux", {})
    notes = []
    for r in results:
        if r.get("skipped"):
            notes.append("- %s %s skipped: %s" % (r["case"], r["system"], r["skipped"]))
            continue
        if r.get("failed"):
            notes.append("- %s %s **FAILED**: %s" % (r["case"], r["system"], r["failed"]))
        sm = r.get("summary") or {}
        if (sm.get("relay_unchosen_drops") or {}).get("max"):
            notes.append("- %s %s: the relay lost up to %d frames it did not choose to (fell "
                         "behind, or a frame over the MTU)" % (
                             r["case"], r["system"], sm["relay_unchosen_drops"]["max"]))
        if r["system"] == "linux-epoll":  # itself: 1.00x, or - where its figure is 0
            rel = tuple(stats.fmt_ratio(stats.ratio((sm.get(f) or {}).get("median"),
                                                    (sm.get(f) or {}).get("median")))
                        for f in ("seconds", "server_retrans_bytes", "retrans_bytes_total"))
        else:
            rt = ratios.get(r["case"], {}).get(r["system"], {})
            rel = (stats.fmt_ratio(rt.get("seconds")),
                   stats.fmt_ratio(rt.get("server_retrans_bytes")),
                   stats.fmt_ratio(rt.get("retrans_bytes_total")))
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % ((
            r["case"], r["system"], _sack_cell(r.get("runs", [])),
            _spread(sm.get("seconds"), 3), _spread(sm.get("goodput_mib_s"), 1),
            _spread(sm.get("server_retrans_segs"), 0),
            _spread(sm.get("server_retrans_bytes"), 0),
            _spread(sm.get("client_retrans_segs"), 0),
            _spread(sm.get("client_retrans_bytes"), 0),
            _spread(sm.get("server_rto_expirations"), 0)) + rel))
    out += [""] + notes + ([""] if notes else [])
    first = next((r["runs"][0] for r in results if r.get("runs")), None)
    if first:
        for key in ("relay_command", "client_command"):
            if first.get(key):
                out.append("- %s: `%s`" % (key.split("_")[0], first[key]))
        out.append("")
    return out


def _spread(summary, digits):
    """fmt_spread, with a single value where every run gave the same."""
    if summary and summary.get("n") and summary["min"] == summary["max"]:
        return stats.fmt_num(summary["median"], digits)
    return stats.fmt_spread(summary, digits)


def _bytes_text(n):
    if not n:
        return "-"
    return "%g MiB each way" % (n / (1 << 20)) if n % (1 << 16) == 0 else "%d bytes each way" % n


def render(res):
    lines = ["# ix benchmark report", ""]
    if res.get("network_skipped"):
        lines += ["Network sections skipped: %s" % res["network_skipped"], ""]
    if res.get("failures"):
        lines += ["**%d failure(s)**:" % len(res["failures"]), ""]
        lines += ["- " + f for f in res["failures"]] + [""]
    if micro_skips(res):
        lines += ["Skipped micro measurements (not failures):", ""]
        lines += ["- " + f for f in micro_skips(res)] + [""]
    lines += _machine(res) + _syscall(res) + _dune(res) + _l2(res) + _sockperf(res)
    lines += _sweeps(res, "echo", "Echo servers under offered load (64 B, TCP)", "linux-epoll")
    lines += _sweeps(res, "kv", "Memcached protocol under offered load (90% get, 100 B values)",
                     "memcached")
    lines += kv_comparison_lines(res.get("kv_comparison"))
    lines += netem_lines(res.get("netem"))
    if res.get("plots"):
        lines += ["## Plots", ""] + ["![%s](%s)" % (p, p) for p in res["plots"]] + [""]
    return "\n".join(lines) + "\n"
