#!/usr/bin/python3
"""Integration test of ix-l2pingpong on a real veth pair between two network namespaces this test
creates (and always removes): a reflector on one end, a sender of 500 frames on the other; the
RTTs must have been recorded, ordered and plausible, every frame answered or counted lost.
Also: a sender with no reflector must record nothing and fail. Needs root: exits 77 otherwise.

Usage: l2pingpong_netns_test.py PATH/TO/ix-l2pingpong   (meson: bench_l2pingpong_netns)
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness import netns, proc  # noqa: E402


def fail(msg):
    print("FAIL: " + msg)
    return 1


def main(exe):
    why = netns.blocker()
    if why:
        print("SKIP: " + why)
        return 77
    netns.clean_stale()
    try:
        with netns.NetnsPair(server_ip=False) as pair:
            # No reflector yet: nothing comes back, the sender must say so.
            rc, out, err = proc.run(pair.exec_argv("a", [
                exe, "--mode=send", "--iface=" + pair.if_a, "--count=5", "--warmup=0",
                "--timeout_ms=20", "--json=-"]), timeout_s=30)
            if rc != 1:
                return fail("sender without a peer exited %s, want 1: %s" % (rc, err))
            alone = json.loads(out.strip().splitlines()[-1])
            if alone["received"] != 0 or alone["lost"] != 5 or alone["rtt_ns"]["count"] != 0:
                return fail("sender without a peer: %s" % alone)

            reflect = proc.Proc(pair.exec_argv("b", [exe, "--mode=reflect", "--iface=" + pair.if_b,
                                                     "--max_seconds=60"], cpu=1), "reflect")
            if not reflect.wait_for_line("ix-l2pingpong: ready", 15):
                return fail("reflector not ready: %s" % (reflect.output(),))
            rc, out, err = proc.run(pair.exec_argv("a", [
                exe, "--mode=send", "--iface=" + pair.if_a, "--count=500", "--size=128",
                "--json=-"], cpu=0), timeout_s=60)
            reflect_rc = reflect.stop()
            if rc != 0:
                return fail("sender exited %s: %s" % (rc, err))
            if reflect_rc != 0:
                return fail("reflector exited %s on SIGTERM: %s" % (reflect_rc, reflect.output()))
            r = json.loads(out.strip().splitlines()[-1])
            rtt = r["rtt_ns"]
            if r["sent"] != 500 or r["received"] + r["lost"] != 500 or r["lost"] > 5:
                return fail("frames: %s" % r)
            if rtt["count"] != r["received"]:
                return fail("histogram holds %d RTTs, %d received" % (rtt["count"], r["received"]))
            if not 0 < rtt["min"] <= rtt["p50"] <= rtt["p99"] <= rtt["max"]:
                return fail("RTTs out of order: %s" % rtt)
            if rtt["p50"] > 10_000_000:  # 10 ms for a polled ping-pong on one machine: broken
                return fail("implausible median RTT %d ns" % rtt["p50"])
            if not r["cdf"] or abs(r["cdf"][-1][1] - 1.0) > 1e-9:
                return fail("CDF does not reach 1: %s" % r["cdf"][-3:])
            if r["size"] != 128 or r["bad"] != 0:
                return fail("size/bad: %s" % r)
            print("PASS: %d RTTs, p50 %.2f us, p99 %.2f us" % (rtt["count"], rtt["p50"] / 1e3,
                                                              rtt["p99"] / 1e3))
            return 0
    finally:
        proc.stop_all()
        netns.destroy_all()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: l2pingpong_netns_test.py PATH/TO/ix-l2pingpong")
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
