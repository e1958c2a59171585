"""Unit tests of the ratio and summary logic in harness/report.py (bench_harness_unit)."""

import unittest

from harness import report, stats, sweep


def point(rate, p50s, p99s):
    return {"rate": rate, "achieved": stats.summarize([rate] * len(p50s)),
            "p50": stats.summarize(p50s), "p90": stats.summarize(p50s),
            "p99": stats.summarize(p99s), "p99.9": stats.summarize(p99s),
            "min": stats.summarize(p50s), "max": stats.summarize(p99s),
            "wrong": [], "timeouts": 0, "runs": []}


def results():
    return {
        "mode": "quick",
        "machine": {"cpu_model": "Test CPU", "cores": 2, "kernel": "6.1", "command": "bench/run",
                    "kvm": {"kvm_backend": "kvm_pvm"}, "tools": {}},
        "l2": {"sizes": {"1500": {"p50_us": stats.summarize([9.0]), "p99_us": stats.summarize([9]),
                                  "p99.9_us": stats.summarize([9]), "min_us": stats.summarize([9])},
                         "64": {"p50_us": stats.summarize([3.0, 4.0, 5.0]),
                                "p99_us": stats.summarize([6]), "p99.9_us": stats.summarize([7]),
                                "min_us": stats.summarize([2])}}},
        "echo": [
            {"system": "linux-epoll", "points": [point(1000, [100, 110, 120], [200]),
                                                 point(5000, [100], [400])]},
            {"system": "ix-echo", "points": [point(1000, [20, 22, 24], [50]),
                                             point(9999, [30], [60])]},
            {"system": "ixd-echo", "skipped": "not integrated", "points": []},
        ],
    }


class RatioRowsTest(unittest.TestCase):
    def test_ratios_against_baseline_and_limit(self):
        res = results()
        self.assertEqual(report.limit_p50_us(res), 4.0)  # smallest frame size, median of runs
        rows = report.sweep_ratio_rows(res["echo"], "linux-epoll", report.limit_p50_us(res))
        self.assertEqual(len(rows), 4)
        # The baseline against itself, and its distance to the limit.
        self.assertEqual(rows[0][:4], ("linux-epoll", 1000, 1.0, 1.0))
        self.assertAlmostEqual(rows[0][4], 110 / 4.0)
        rows = rows[2:]
        name, rate, r50, r99, rl = rows[0]
        self.assertEqual((name, rate), ("ix-echo", 1000))
        self.assertAlmostEqual(r50, 22 / 110)
        self.assertAlmostEqual(r99, 50 / 200)
        self.assertAlmostEqual(rl, 22 / 4.0)
        # No baseline point at 9999/s: no baseline ratio, the limit ratio still holds.
        self.assertEqual(rows[1][:4], ("ix-echo", 9999, None, None))
        self.assertAlmostEqual(rows[1][4], 30 / 4.0)

    def test_no_limit_measured(self):
        res = results()
        del res["l2"]
        self.assertIsNone(report.limit_p50_us(res))
        rows = report.sweep_ratio_rows(res["echo"], "linux-epoll", None)
        self.assertTrue(all(r[4] is None for r in rows))


class RenderTest(unittest.TestCase):
    def test_render_mentions_machine_skips_and_ratios(self):
        md = report.render(results())
        self.assertIn("| CPU | Test CPU |", md)
        self.assertIn("| KVM backend | kvm_pvm |", md)
        self.assertIn("Command: `bench/run`", md)
        self.assertIn("ixd-echo skipped: not integrated", md)
        self.assertIn("| ix-echo | 1,000 | 0.20x | 0.25x | 5.50x |", md)
        self.assertNotIn("Memcached protocol", md)  # a section that did not run is left out

    def test_failures_come_first(self):
        res = results()
        res["failures"] = ["echo ix-echo: answered wrongly"]
        md = report.render(res)
        self.assertLess(md.index("answered wrongly"), md.index("## Machine"))


class KvSummaryTest(unittest.TestCase):
    def test_at_bound_table_marks_lower_bounds_and_misses(self):
        sweeps = [{"system": "a", "at_p99_bound": {"bound_us": 500.0, "throughput": 39000.0,
                                                    "rate": 40000, "p99_us": 120.0,
                                                    "beyond_sweep": True}},
                  {"system": "b", "at_p99_bound": {"bound_us": 500.0, "throughput": None,
                                                    "rate": None, "p99_us": None,
                                                    "beyond_sweep": False}},
                  {"system": "c", "skipped": "not built"}]
        md = "\n".join(report.at_bound_rows(sweeps))
        self.assertIn("p99 ≤ 500 µs", md)
        self.assertIn("| a | ≥ 39,000 | 40,000 | 120.0 |", md)
        self.assertIn("| b | none within the bound | - | - |", md)
        self.assertNotIn("| c |", md)

    def test_comparison_lines(self):
        cmp = {"throughput_at_p99": {"memcached": 10000.0, "ix-kv": 25000.0, "ixd-kv": None},
               "lower_bound": {"memcached": False, "ix-kv": True},
               "ratios": {"ix-kv/memcached": 2.5, "ixd-kv/memcached": None,
                          "ixd-kv/ix-kv": None},
               "goals": {"ix-kv (library) ahead of memcached": True,
                         "ixd within 20% of library mode": None,
                         "x": False}}
        md = "\n".join(report.kv_comparison_lines(cmp))
        self.assertIn("| ix-kv | ≥ 25,000 /s |", md)
        self.assertIn("| memcached | 10,000 /s |", md)
        self.assertIn("| ixd-kv | - |", md)
        self.assertIn("| ix-kv/memcached | 2.50x |", md)
        self.assertIn("| ix-kv (library) ahead of memcached | **yes** |", md)
        self.assertIn("| ixd within 20% of library mode | n/a |", md)
        self.assertIn("| x | **no** |", md)
        self.assertEqual(report.kv_comparison_lines(None), [])

    def test_render_includes_comparison(self):
        res = results()
        res["kv"] = [{"system": "memcached", "points": [point(1000, [50], [300])]}]
        for s in res["kv"]:
            s["at_p99_bound"] = sweep.throughput_at_p99(s["points"])
        res["kv_comparison"] = sweep.kv_comparison(res["kv"])
        md = report.render(res)
        self.assertIn("### ix-kv versus memcached (issue 4)", md)
        self.assertIn("| memcached | ≥ 1,000 | 1,000 | 300.0 |", md)
        self.assertLess(md.index("## Memcached protocol"), md.index("### ix-kv versus"))


if __name__ == "__main__":
    unittest.main()
