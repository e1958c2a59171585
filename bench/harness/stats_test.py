"""Unit tests of harness/stats.py (run by meson: bench_harness_unit)."""

import unittest

from harness import stats


class SummarizeTest(unittest.TestCase):
    def test_odd_count(self):
        s = stats.summarize([5, 1, 3])
        self.assertEqual(s["n"], 3)
        self.assertEqual(s["median"], 3)
        self.assertEqual((s["min"], s["max"]), (1, 5))
        self.assertEqual((s["q1"], s["q3"]), (2, 4))
        self.assertEqual(s["runs"], [5, 1, 3])  # in the order measured

    def test_even_count_interpolates(self):
        self.assertEqual(stats.summarize([1, 2, 3, 4])["median"], 2.5)

    def test_failed_runs_are_dropped(self):
        s = stats.summarize([None, 7, None])
        self.assertEqual(s["n"], 1)
        self.assertEqual(s["median"], 7)
        self.assertEqual(stats.summarize([None])["median"], None)
        self.assertEqual(stats.summarize([])["n"], 0)


class RatioTest(unittest.TestCase):
    def test_ratio(self):
        self.assertAlmostEqual(stats.ratio(30, 12), 2.5)
        self.assertIsNone(stats.ratio(None, 1))
        self.assertIsNone(stats.ratio(1, 0))
        self.assertIsNone(stats.ratio(1, None))
        self.assertEqual(stats.fmt_ratio(2.5), "2.50x")
        self.assertEqual(stats.fmt_ratio(None), "-")

    def test_formatting(self):
        self.assertEqual(stats.fmt_num(12345.6), "12,346")
        self.assertEqual(stats.fmt_num(3.14159, 2), "3.14")
        self.assertEqual(stats.fmt_spread(stats.summarize([1, 2, 3])), "2.0 (1.0..3.0)")
        self.assertEqual(stats.fmt_spread(stats.summarize([])), "-")


class CdfTest(unittest.TestCase):
    def test_percentile_labels(self):
        pts = stats.percentile_cdf({"min": 1.0, "p50": 2.0, "99.900": 9.0, "max": 10.0,
                                    "mean": 3.0, "count": 100})
        self.assertEqual([v for v, _ in pts], [1.0, 2.0, 9.0, 10.0])
        for (_, got), want in zip(pts, [0.0, 0.5, 0.999, 1.0]):
            self.assertAlmostEqual(got, want)


if __name__ == "__main__":
    unittest.main()
