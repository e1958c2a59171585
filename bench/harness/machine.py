"""What a report records about where and how it ran: CPU, cores, kernel, KVM backend, tools."""

import datetime
import os
import platform
import shlex
import subprocess
import sys

from harness import parse


def _first_line(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        text = (r.stdout or r.stderr).strip()
        return parse.strip_ansi(text.splitlines()[0]) if text else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def loadavg():
    """The 1, 5 and 15 minute load averages, or None."""
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except (OSError, ValueError):
        return None


def cpu_times():
    """Aggregate CPU times from /proc/stat: {"user", "nice", "system", "idle", "iowait", "irq",
    "softirq", "steal"} in clock ticks, or None."""
    keys = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return dict(zip(keys, [int(x) for x in fields[1:1 + len(keys)]]))
    except (OSError, ValueError):
        return None


def cpu_share(start, end):
    """Percent of all CPU time between two cpu_times() samples that was busy, idle and stolen
    by the hypervisor ({"busy", "idle", "steal"}), or None."""
    if not start or not end:
        return None
    delta = {k: end[k] - start[k] for k in start}
    total = sum(delta.values())
    if total <= 0:
        return None
    idle = delta["idle"] + delta["iowait"]
    return {"busy": 100.0 * (total - idle - delta["steal"]) / total,
            "idle": 100.0 * idle / total, "steal": 100.0 * delta["steal"] / total}


def kvm_blocker(ix_run_path, timeout_s=20):
    """Why ix-run cannot run guests on this machine, or "" if it can: the one KVM check of the
    harness and of the bench tests. KVM is usable exactly when `ix-run --info` exits 0 (it opens
    /dev/kvm and checks the API); otherwise the reason is ix-run's (parse.ixrun_blocker), e.g.
    "cannot use KVM: open /dev/kvm: No such file or directory"."""
    if not ix_run_path or not os.path.exists(ix_run_path):
        return "%s not built" % (ix_run_path or "ix-run")
    try:
        r = subprocess.run([ix_run_path, "--info"], capture_output=True, text=True,
                           timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "%s --info: %s" % (ix_run_path, e)
    return parse.ixrun_blocker(r.returncode, r.stderr)


def describe(ix_run_path, argv):
    info = {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "hostname": platform.node(),
        "python": sys.version.split()[0],
        "utc_start": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join(shlex.quote(a) for a in argv),
        "cwd": os.getcwd(),
        "tools": {
            "sockperf": _first_line(["sockperf", "--version"]),
            "memcached": _first_line(["memcached", "-V"]),
        },
        "kvm": None,
        "loadavg_start": loadavg(),
        "cpu_times_start": cpu_times(),
    }
    if ix_run_path and os.path.exists(ix_run_path):
        try:
            r = subprocess.run([ix_run_path, "--info"], capture_output=True, text=True, timeout=20)
            info["kvm"] = parse.parse_ixrun_info(r.stdout + r.stderr)
        except (OSError, subprocess.TimeoutExpired) as e:
            info["kvm"] = {"error": str(e)}
    try:
        with open("/proc/sys/kernel/sched_rt_runtime_us") as f:
            info["sched_rt_runtime_us"] = f.read().strip()
    except OSError:
        pass
    return info
