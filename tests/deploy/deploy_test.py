#!/usr/bin/python3
"""deploy_test: ix-deploy end to end on this machine's libvirt (TCG guests where KVM is kvm_pvm).

up --app=ix-kv --count=2; memccapable -a against each guest's 127.0.0.1 port forward; status shows
both running with ixd serving and ixd's live stats (an app attached, TCP connections taken); the QEMU of one guest (the PID libvirt reports) is killed and status
shows it not running while the other runs; down leaves no domain, no file and no QEMU behind.
Starts libvirtd with scripts/libvirtd.sh if none answers, and stops what it started.
Exit 77 (skip) with the reason when this machine cannot run it.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.environ.get("IX_DEPLOY_BIN", os.path.join(REPO, "build", "tools", "ix-deploy"))
LIBVIRTD_SH = os.path.join(REPO, "scripts", "libvirtd.sh")
NAME = "deploytest"
PORT_BASE = 23400


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


def run(args, timeout=300, check=True):
    print("+", " ".join(args), flush=True)
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if r.stderr:
        print(r.stderr[-4000:], end="", file=sys.stderr, flush=True)
    if check and r.returncode != 0:
        raise AssertionError(f"{args[0]} {args[1] if len(args) > 1 else ''} exited {r.returncode}:\n{r.stdout[-3000:]}")
    return r


def qemu_pids(prefix):
    pids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                cmd = open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if cmd and cmd[0].endswith(b"qemu-system-x86_64") and any(
                    a.startswith(f"guest={prefix}".encode()) for a in cmd):
                pids.append(int(p))
    return pids


def main():
    if os.geteuid() != 0:
        skip("needs root (libvirt qemu:///system)")
    for tool in ("libvirtd", "virsh", "qemu-system-x86_64", "memccapable"):
        if not shutil.which(tool):
            skip(f"{tool} not installed (scripts/setup.sh installs it)")
    if not os.access(DEPLOY, os.X_OK):
        skip(f"{DEPLOY} not built (libvirt-dev missing at configure time?)")
    started = subprocess.run([LIBVIRTD_SH, "status"], capture_output=True).returncode != 0
    if started:
        run([LIBVIRTD_SH, "start"], timeout=120)
    state = tempfile.mkdtemp(prefix="ix-deploy-test-", dir="/var/tmp")
    os.chmod(state, 0o755)  # QEMU (user libvirt-qemu) reads the kernel and initramfs there
    common = [f"--state_dir={state}", f"--name={NAME}"]
    try:
        t0 = time.monotonic()
        up = run([DEPLOY, "up", "--app=ix-kv", "--count=2", f"--port_base={PORT_BASE}",
                  "--boot_timeout_s=240"] + common, timeout=420)
        print(f"up took {time.monotonic() - t0:.0f} s")
        domains = json.loads(up.stdout)["domains"]
        assert [d["name"] for d in domains] == [f"ix-{NAME}-0", f"ix-{NAME}-1"], domains
        for d in domains:
            host, port = d["address"].split(":")
            assert host == "127.0.0.1", d
            r = run(["memccapable", "-h", host, "-p", port, "-a"], timeout=180, check=False)
            print(r.stdout[-600:])
            assert r.returncode == 0 and "All tests passed" in r.stdout, f"memccapable against {d['name']} failed"

        status = json.loads(run([DEPLOY, "status"] + common).stdout)
        for d in status["domains"]:
            assert d["running"] and d["state"] == "running", d
            assert d["guest"]["ixd"]["serving"] and d["guest"]["ixd"]["running"], d
            assert d["guest"]["ixd"]["attached"] >= 1 and d["guest"]["app"]["running"], d
            assert d["guest"]["nic"]["rx_packets"] > 0, d
            # ixd's own live counters, read by the agent from ixd's stats socket.
            live = d["guest"].get("ixd_live")
            assert live is not None, d["guest"].get("ixd_error", d)
            assert live["attached"] >= 1 and live["apps_attached"] >= 1, live
            assert live["uptime_ns"] > 0 and live["stats_socket"] == "/run/ix/ixd.sock.stats", live
            assert live["stack"]["tcp.passive_opens"] >= 1 and live["stack"]["stack.rx_frames"] > 0, live
        victim = status["domains"][0]
        pid = victim["qemu_pid"]
        assert pid > 0 and pid in qemu_pids(victim["name"]), (pid, qemu_pids(victim["name"]))
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:
            status = json.loads(run([DEPLOY, "status"] + common).stdout)
            if not status["domains"][0]["running"] or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert not status["domains"][0]["running"], status["domains"][0]
        print(f"killed guest: state {status['domains'][0]['state']} ({status['domains'][0].get('reason')})")
        assert status["domains"][1]["running"] and status["domains"][1]["guest"]["ixd"]["serving"], status
        logs = run([DEPLOY, "logs", f"--domain=ix-{NAME}-1"] + common).stdout
        assert "ixd: serving" in logs, logs[-2000:]
    finally:
        down = run([DEPLOY, "down"] + common, check=False)
        left = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--all", "--name"],
                              capture_output=True, text=True).stdout.split()
        files = os.listdir(state) if os.path.isdir(state) else []
        procs = qemu_pids(f"ix-{NAME}-")
        shutil.rmtree(state, ignore_errors=True)
        if started:
            run([LIBVIRTD_SH, "stop"], check=False)
    assert down.returncode == 0, "down failed"
    assert not [n for n in left if n.startswith(f"ix-{NAME}-")], f"domains left: {left}"
    assert not files, f"files left in the state dir: {files}"
    assert not procs, f"QEMU processes left: {procs}"
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
