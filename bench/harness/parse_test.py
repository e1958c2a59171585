"""Unit tests of harness/parse.py on real tool output (run by meson: bench_harness_unit)."""

import unittest

from harness import parse

# sockperf 3.7 `pp --tcp --full-rtt` client output, as captured on the development machine.
SOCKPERF_RTT = """\
sockperf: \x1b[2;35m== version #3.7-no.git == \x1b[0m
sockperf[CLIENT] send on:sockperf: using recvfrom() to block on socket(s)
[ 0] IP = 127.0.0.1       PORT = 17079 # TCP
sockperf: Test ended
sockperf: [Total Run] RunTime=1.001 sec; Warm up time=400 msec; SentMessages=8131; ReceivedMessages=8130
sockperf: ========= Printing statistics for Server No: 0
sockperf: [Valid Duration] RunTime=0.552 sec; SentMessages=4856; ReceivedMessages=4856
sockperf: \x1b[2;35m====> avg-rtt=113.574 (std-dev=432.809)\x1b[0m
sockperf: # dropped messages = 0; # duplicated messages = 0; # out-of-order messages = 0
sockperf: Summary: Round trip is 113.574 usec
sockperf: \x1b[2;35mTotal 4856 observations\x1b[0m; each percentile contains 48.56 observations
sockperf: ---> <MAX> observation = 4639.255
sockperf: ---> percentile 99.999 = 4639.255
sockperf: ---> percentile 99.990 = 4639.255
sockperf: ---> percentile 99.900 = 4253.539
sockperf: ---> percentile 99.000 = 3056.221
sockperf: ---> percentile 90.000 =   63.202
sockperf: ---> percentile 75.000 =   55.413
sockperf: ---> percentile 50.000 =   47.958
sockperf: ---> percentile 25.000 =   46.305
sockperf: ---> <MIN> observation =   31.980
"""

SOCKPERF_NO_SERVER = """\
sockperf: Test end (interrupted by timer)
sockperf: Test ended
sockperf: No messages were received from the server. Is the server down?
"""


def ixload_report(**over):
    r = {
        "offered_rate": 1976.0, "achieved_send_rate": 1976.0, "completed_rate": 1976.0,
        "latency_us": {"count": 1976, "min": 7.91, "p50": 41.471, "p90": 63.999, "p99": 115.711,
                       "p99.9": 1490.943, "max": 1959.538, "mean": 52.1},
        "send_lag_us": {"p50": 30.975},
        "requests": {"aborted": 0, "bad_data": 0, "completed": 1976, "errors": 0, "ok": 1976,
                     "server_errors": 0, "timeouts": 0, "unsent": 0},
        "connections": {"connect_errors": 0, "connects": 4, "protocol_errors": 0, "resets": 0},
    }
    for k, v in over.items():
        r[k] = v
    return r


class SockperfTest(unittest.TestCase):
    def test_full_rtt_report(self):
        r = parse.parse_sockperf(SOCKPERF_RTT)
        self.assertTrue(r["rtt"])
        self.assertAlmostEqual(r["avg_us"], 113.574)
        self.assertAlmostEqual(r["stddev_us"], 432.809)
        self.assertEqual((r["sent"], r["received"]), (4856, 4856))
        self.assertAlmostEqual(r["valid_runtime_s"], 0.552)
        self.assertEqual(r["dropped"], 0)
        p = r["percentiles_us"]
        self.assertAlmostEqual(p["50"], 47.958)
        self.assertAlmostEqual(p["99"], 3056.221)
        self.assertAlmostEqual(p["99.9"], 4253.539)
        self.assertAlmostEqual(p["25"], 46.305)
        self.assertAlmostEqual(p["min"], 31.98)
        self.assertAlmostEqual(p["max"], 4639.255)

    def test_half_rtt_is_flagged(self):
        text = SOCKPERF_RTT.replace("avg-rtt", "avg-latency")
        self.assertFalse(parse.parse_sockperf(text)["rtt"])

    def test_no_statistics_raises(self):
        with self.assertRaises(ValueError):
            parse.parse_sockperf(SOCKPERF_NO_SERVER)


class IxLoadTest(unittest.TestCase):
    def test_clean_run(self):
        r = parse.reduce_ixload(ixload_report())
        self.assertFalse(r["wrong"])
        self.assertEqual(r["ok"], 1976)
        self.assertAlmostEqual(r["latency_us"]["p99"], 115.711)
        self.assertAlmostEqual(r["send_lag_p50_us"], 30.975)
        self.assertIsNone(r["hits"])

    def test_bad_data_is_wrong(self):
        rep = ixload_report()
        rep["requests"]["bad_data"] = 3
        rep["requests"]["errors"] = 3
        r = parse.reduce_ixload(rep)
        self.assertTrue(r["wrong"])
        self.assertIn("3 replies with wrong data", r["wrong_reason"])

    def test_protocol_errors_are_wrong(self):
        rep = ixload_report()
        rep["connections"]["protocol_errors"] = 1
        r = parse.reduce_ixload(rep)
        self.assertTrue(r["wrong"])
        self.assertFalse(r["silent"])
        self.assertIn("1 protocol errors", r["wrong_reason"])

    def test_silence_is_flagged_not_wrong(self):
        rep = ixload_report()
        rep["requests"]["ok"] = 0
        rep["requests"]["timeouts"] = 1976
        r = parse.reduce_ixload(rep)
        self.assertTrue(r["silent"])
        self.assertFalse(r["wrong"])

    def test_timeouts_alone_are_not_wrong(self):
        rep = ixload_report()
        rep["requests"]["timeouts"] = 5
        r = parse.reduce_ixload(rep)
        self.assertFalse(r["wrong"])
        self.assertEqual(r["timeouts"], 5)

    def test_memcache_counters(self):
        r = parse.reduce_ixload(ixload_report(memcache={"gets": 9, "sets": 1, "hits": 7,
                                                        "misses": 2}))
        self.assertEqual((r["hits"], r["misses"]), (7, 2))


class IxRunInfoTest(unittest.TestCase):
    def test_info(self):
        info = parse.parse_ixrun_info(
            "KVM device:        /dev/kvm (API version 12)\n"
            "KVM backend:       kvm_pvm (paravirtual; guest ring 0 is emulated)\n"
            "default ring:      3 (program in ring 3 over ix's ring-0 runtime)\n")
        self.assertEqual(info["kvm_backend"], "kvm_pvm (paravirtual; guest ring 0 is emulated)")
        self.assertEqual(info["kvm_device"], "/dev/kvm (API version 12)")
        self.assertTrue(info["default_ring"].startswith("3"))

    def test_blocker_is_ixruns_reason(self):
        self.assertEqual(parse.ixrun_blocker(0, "any warning\n"), "")
        self.assertEqual(parse.ixrun_blocker(
            1, "ix-run: cannot use KVM: open /dev/kvm: No such file or directory\n"),
            "cannot use KVM: open /dev/kvm: No such file or directory")
        # The line that names the cause wins over later noise; other text is kept as it is.
        self.assertEqual(parse.ixrun_blocker(
            1, "\x1b[31mix-run: cannot use KVM: /dev/kvm: KVM API version -1\x1b[0m\nbye\n"),
            "cannot use KVM: /dev/kvm: KVM API version -1")
        self.assertEqual(parse.ixrun_blocker(3, "something else broke\n"),
                         "something else broke")
        self.assertEqual(parse.ixrun_blocker(-11, ""), "ix-run --info exited -11")


class MicroTest(unittest.TestCase):
    def test_order_and_failed_runs(self):
        figs = parse.micro_figures({"figures": {
            "ptrace": {"median_ns": 6000, "min_ns": 5900, "max_ns": 6100},
            "native": {"median_ns": 100, "min_ns": 99, "max_ns": 101},
            "ix_ring0": {"median_ns": -1, "min_ns": -1, "max_ns": -1},
            "zzz_new": {"median_ns": 5, "min_ns": 5, "max_ns": 5}}})
        self.assertEqual(list(figs), ["native", "ix_ring0", "ptrace", "zzz_new"])
        self.assertIsNone(figs["ix_ring0"]["median"])
        self.assertEqual(figs["native"]["max"], 101.0)


if __name__ == "__main__":
    unittest.main()
