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


if __name__ == "__main__":
    unittest.main()
