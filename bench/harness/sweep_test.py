"""Unit tests of harness/sweep.py (bench_harness_unit)."""

import unittest

from harness import sweep


def run(completed_rate, p50=100.0, ok=1000, wrong="", silent=False, timeouts=0):
    return {"completed_rate": completed_rate, "ok": ok, "wrong": bool(wrong),
            "wrong_reason": wrong, "silent": silent, "timeouts": timeouts,
            "latency_us": {"p50": p50, "p90": p50 * 2, "p99": p50 * 3, "p99.9": p50 * 4,
                           "min": p50 / 2, "max": p50 * 5}}


class MakePointTest(unittest.TestCase):
    def test_median_and_spread_over_runs(self):
        p = sweep.make_point(1000, [run(990, 100), run(1000, 120), run(1000, 110, timeouts=2)])
        self.assertEqual(p["rate"], 1000)
        self.assertEqual(p["achieved"]["median"], 1000)
        self.assertEqual(p["p50"]["median"], 110)
        self.assertEqual((p["p50"]["min"], p["p50"]["max"]), (100, 120))
        self.assertEqual(p["p99"]["median"], 330)
        self.assertEqual(p["timeouts"], 2)
        self.assertEqual(p["wrong"], [])
        self.assertFalse(p["silent"])

    def test_silent_runs_give_no_latency(self):
        p = sweep.make_point(5000, [run(0, ok=0, silent=True), run(0, ok=0, silent=True)])
        self.assertTrue(p["silent"])
        self.assertIsNone(p["p50"]["median"])
        self.assertTrue(sweep.saturated(p))

    def test_saturation_threshold(self):
        self.assertFalse(sweep.saturated(sweep.make_point(1000, [run(600)])))
        self.assertTrue(sweep.saturated(sweep.make_point(1000, [run(400)])))


class VerdictTest(unittest.TestCase):
    def test_clean_sweep_passes(self):
        pts = [sweep.make_point(1000, [run(1000)]), sweep.make_point(9000, [run(0, ok=0,
                                                                               silent=True)])]
        self.assertEqual(sweep.verdict(pts, 0, True), "")  # silence past saturation is no failure

    def test_wrong_answers_fail(self):
        pts = [sweep.make_point(1000, [run(1000, wrong="3 replies with wrong data")])]
        self.assertIn("3 replies with wrong data", sweep.verdict(pts))

    def test_silence_at_lowest_load_fails(self):
        pts = [sweep.make_point(1000, [run(0, ok=0, silent=True)])]
        self.assertEqual(sweep.verdict(pts), "answered no request at 1000/s")

    def test_exit_status_against_contract(self):
        pts = [sweep.make_point(1000, [run(1000)])]
        self.assertIn("status 1", sweep.verdict(pts, 1, exit_zero=True))
        self.assertEqual(sweep.verdict(pts, -15, exit_zero=False), "")


def pts(*specs):
    """Sweep points from (rate, achieved, p99_us) triples (p50 = p99 / 3 in run())."""
    return [sweep.make_point(rate, [run(got, p50=p99 / 3.0)]) for rate, got, p99 in specs]


class ThroughputAtP99Test(unittest.TestCase):
    def test_highest_rate_within_bound(self):
        b = sweep.throughput_at_p99(pts((1000, 1000, 60), (20000, 19900, 450),
                                        (40000, 39000, 900)))
        self.assertEqual((b["throughput"], b["rate"], b["p99_us"]), (19900, 20000, 450))
        self.assertFalse(b["beyond_sweep"])
        self.assertEqual(b["bound_us"], 500)

    def test_points_dropping_load_or_wrong_do_not_count(self):
        p = pts((1000, 1000, 60), (5000, 4000, 100), (9000, 9000, 100))
        p[2]["wrong"] = ["bad data"]
        b = sweep.throughput_at_p99(p)  # 5000/s kept only 80 %, 9000/s answered wrongly
        self.assertEqual(b["throughput"], 1000)

    def test_still_within_bound_at_end_is_a_lower_bound(self):
        b = sweep.throughput_at_p99(pts((1000, 1000, 60), (5000, 5000, 70)))
        self.assertEqual(b["throughput"], 5000)
        self.assertTrue(b["beyond_sweep"])

    def test_nothing_within_bound(self):
        b = sweep.throughput_at_p99(pts((1000, 1000, 800)))
        self.assertIsNone(b["throughput"])
        self.assertIsNone(sweep.throughput_at_p99([])["throughput"])


def kv_sweep(name, *specs):
    p = pts(*specs)
    return {"system": name, "points": p, "at_p99_bound": sweep.throughput_at_p99(p)}


class KvComparisonTest(unittest.TestCase):
    def test_ratios_and_goals(self):
        c = sweep.kv_comparison([
            kv_sweep("memcached", (1000, 1000, 200), (10000, 10000, 450), (20000, 20000, 3000)),
            kv_sweep("ix-kv-linux", (1000, 1000, 100)),
            kv_sweep("ix-kv", (1000, 1000, 50), (10000, 10000, 60), (20000, 20000, 80)),
            kv_sweep("ixd-kv", (1000, 1000, 70), (10000, 10000, 90), (20000, 15000, 4000))])
        self.assertEqual(c["throughput_at_p99"], {"memcached": 10000, "ix-kv": 20000,
                                                  "ixd-kv": 10000})
        self.assertAlmostEqual(c["ratios"]["ix-kv/memcached"], 2.0)
        self.assertAlmostEqual(c["ratios"]["ixd-kv/memcached"], 1.0)
        self.assertAlmostEqual(c["ratios"]["ixd-kv/ix-kv"], 0.5)
        g = c["goals"]
        self.assertTrue(g["ix-kv (library) ahead of memcached"])
        self.assertFalse(g["ix-kv on ixd ahead of memcached"])  # equal is not ahead
        self.assertFalse(g["ixd within 20% of library mode"])
        self.assertTrue(g["ix-kv (library) p99 below memcached's at every common offered load"])
        self.assertFalse(g["ix-kv on ixd p99 below memcached's at every common offered load"])

    def test_lower_bounds_decide_only_one_way(self):
        self.assertTrue(sweep.reaches(2.0, True, False, 1.0, True))    # a >= 2b
        self.assertIsNone(sweep.reaches(0.5, True, False, 1.0, True))  # a >= b/2: open
        self.assertFalse(sweep.reaches(0.5, False, True, 1.0, True))   # a <= b/2
        self.assertIsNone(sweep.reaches(2.0, False, True, 1.0, True))  # a <= 2b: open
        self.assertIsNone(sweep.reaches(1.0, True, True, 0.8, False))
        self.assertTrue(sweep.reaches(0.8, False, False, 0.8, False))
        self.assertFalse(sweep.reaches(1.0, False, False, 1.0, True))
        c = sweep.kv_comparison([kv_sweep("memcached", (1000, 1000, 60), (5000, 5000, 70)),
                                 kv_sweep("ix-kv", (1000, 1000, 50), (5000, 5000, 60))])
        self.assertEqual(c["lower_bound"], {"memcached": True, "ix-kv": True})
        self.assertAlmostEqual(c["ratios"]["ix-kv/memcached"], 1.0)
        self.assertIsNone(c["goals"]["ix-kv (library) ahead of memcached"])

    def test_missing_system_gives_none(self):
        c = sweep.kv_comparison([kv_sweep("memcached", (1000, 1000, 200)),
                                 {"system": "ix-kv", "skipped": "not built", "points": []}])
        self.assertIsNone(c["ratios"]["ix-kv/memcached"])
        self.assertIsNone(c["goals"]["ix-kv (library) ahead of memcached"])
        self.assertIsNone(c["goals"]["ixd within 20% of library mode"])

    def test_p99_below_counts_silence(self):
        a = kv_sweep("a", (1000, 1000, 50), (5000, 5000, 60))
        b = kv_sweep("b", (1000, 1000, 70), (5000, 0, 0))
        b["points"][1] = sweep.make_point(5000, [run(0, ok=0, silent=True)])
        self.assertTrue(sweep.p99_below(a, b))   # b fell silent where a answered
        self.assertFalse(sweep.p99_below(b, a))
        self.assertIsNone(sweep.p99_below(a, kv_sweep("c", (7000, 7000, 10))))


if __name__ == "__main__":
    unittest.main()
