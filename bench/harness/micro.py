"""Microbenchmarks in the harness: syscall forwarding (ix-bench-syscall) and the Dune/Appel-Li
VM primitives (ix-bench-dune-vm natively and under ix-run). Both tools pin themselves.

Where KVM is unusable (paths["kvm_blocker"], from machine.kvm_blocker) what needs it is skipped
with that reason, never failed: ix-bench-syscall runs with --no_kvm and its KVM figures go to
"skipped_figures" ({name: reason}); the Dune bench runs natively only, "ixrun_skipped" says why.
Where KVM is usable, a KVM measurement that fails is a failure like any other."""

import json
import os
import tempfile

from harness import config, parse, proc, stats


def run_syscall(paths, cfg, log):
    """ix-bench-syscall --json: native, ix ring 3/0, raw KVM exits, ptrace (all on one CPU)."""
    exe = paths["syscall"]
    blocker = paths.get("kvm_blocker")
    result = {"tool": exe, "placement": "every party on CPU %d" % config.SERVER_CPU}
    if not os.path.exists(exe):
        result["skipped"] = "%s not built" % exe
        return result
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "syscall.json")
        argv = [exe, "--calls=%d" % cfg["syscall_calls"], "--repeats=%d" % cfg["repeats"],
                "--cpu=%d" % config.SERVER_CPU, "--ix_run=" + paths["ix_run"], "--json=" + out]
        if blocker:
            argv.append("--no_kvm")
        result["command"] = " ".join(argv)
        log("syscall: " + result["command"])
        rc, stdout, stderr = proc.run(argv, timeout_s=240)
        result["returncode"] = rc
        if rc is None or not os.path.exists(out):
            result["failed"] = "ix-bench-syscall did not finish (rc %s): %s" % (rc, stderr[-400:])
            return result
        with open(out) as f:
            raw = json.load(f)
    result["raw"] = raw
    result["figures"] = parse.micro_figures(raw)
    result["ratios"] = raw.get("ratios", {})
    result["skipped_figures"] = skipped_figures(raw, blocker)
    if rc != 0:
        result["failed"] = "ix-bench-syscall exited %d (a measurement failed): %s" % (
            rc, stderr[-400:])
    return result


def skipped_figures(raw, blocker):
    """{figure: reason} for the figures an ix-bench-syscall JSON report lists as not measured
    (--no_kvm: those needing KVM), in display order; the reason is why KVM is unusable."""
    names = raw.get("skipped_figures") or []
    order = {n: i for i, n in enumerate(parse.MICRO_ORDER)}
    return {n: blocker or "not measured (--no_kvm)"
            for n in sorted(names, key=lambda n: (order.get(n, len(order)), n))}


def _dune_once(argv, log):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "dune.json")
        full = argv + ["--json=" + out]
        log("dune-vm: " + " ".join(full))
        rc, stdout, stderr = proc.run(full, timeout_s=240)
        raw = None
        if os.path.exists(out):
            with open(out) as f:
                raw = json.load(f)
        return rc, raw, stderr


def run_dune(paths, cfg, log):
    """The Dune VM primitives natively and under ix-run (guest ring 3), with ratios ix/native."""
    exe = paths["dune_vm"]
    result = {"tool": exe, "placement": "pinned to CPU %d" % config.SERVER_CPU, "modes": {}}
    if not os.path.exists(exe):
        result["skipped"] = "%s not built" % exe
        return result
    common = ["--repeats=%d" % cfg["repeats"], "--cpu=%d" % config.SERVER_CPU]
    modes = {"native": [exe, "--ops=%d" % cfg["dune_ops_native"]] + common}
    if paths.get("kvm_blocker"):
        result["ixrun_skipped"] = paths["kvm_blocker"]
    elif os.path.exists(paths["ix_run"]):
        modes["ix-run"] = [paths["ix_run"], "--", exe, "--ops=%d" % cfg["dune_ops_ixrun"]] + common
    else:
        result["ixrun_skipped"] = "%s not built" % paths["ix_run"]
    failures = []
    for mode, argv in modes.items():
        rc, raw, stderr = _dune_once(argv, log)
        entry = {"command": " ".join(argv), "returncode": rc}
        if raw is None:
            entry["failed"] = "no JSON (rc %s): %s" % (rc, stderr[-400:])
        else:
            entry["raw"] = raw
            entry["figures"] = parse.micro_figures(raw)
            if rc != 0 or not raw.get("checks_ok", False):
                entry["failed"] = "wrong trap counts or mprotect errors (rc %s)" % rc
        if "failed" in entry:
            failures.append("%s: %s" % (mode, entry["failed"]))
        result["modes"][mode] = entry
    nat = result["modes"].get("native", {}).get("figures", {})
    ixr = result["modes"].get("ix-run", {}).get("figures", {})
    result["ratios_ixrun_over_native"] = {
        name: stats.ratio(ixr.get(name, {}).get("median"), fig.get("median"))
        for name, fig in nat.items()}
    if failures:
        result["failed"] = "; ".join(failures)
    return result
