"""Unit tests of the pure parts of harness/machine.py (bench_harness_unit)."""

import os
import tempfile
import unittest

from harness import machine


class CpuShareTest(unittest.TestCase):
    def test_shares(self):
        start = {"user": 100, "nice": 0, "system": 50, "idle": 800, "iowait": 10, "irq": 0,
                 "softirq": 0, "steal": 40}
        end = {"user": 400, "nice": 0, "system": 100, "idle": 1300, "iowait": 10, "irq": 0,
               "softirq": 50, "steal": 140}
        c = machine.cpu_share(start, end)  # delta: 300 + 50 + 50 busy, 500 idle, 100 steal
        self.assertAlmostEqual(c["busy"], 40.0)
        self.assertAlmostEqual(c["idle"], 50.0)
        self.assertAlmostEqual(c["steal"], 10.0)

    def test_missing_or_empty(self):
        self.assertIsNone(machine.cpu_share(None, {}))
        t = machine.cpu_times()
        self.assertIsNone(machine.cpu_share(t, t))  # no time passed

    def test_live_samples(self):
        self.assertIn("steal", machine.cpu_times())
        la = machine.loadavg()
        self.assertEqual(len(la), 3)
        self.assertGreater(len(machine.cpu_model() or ""), 0)



class KvmBlockerTest(unittest.TestCase):
    """machine.kvm_blocker against stand-ins for ix-run (shell scripts answering --info)."""

    def fake_ix_run(self, d, body):
        path = os.path.join(d, "ix-run")
        with open(path, "w") as f:
            f.write("#!/bin/sh\n[ \"$1\" = --info ] || exit 9\n" + body + "\n")
        os.chmod(path, 0o755)
        return path

    def test_usable_when_info_exits_zero(self):
        with tempfile.TemporaryDirectory() as d:
            self.assertEqual(machine.kvm_blocker(self.fake_ix_run(
                d, "echo 'KVM backend:  kvm_intel'; exit 0")), "")

    def test_reason_from_info_stderr(self):
        with tempfile.TemporaryDirectory() as d:
            ix_run = self.fake_ix_run(d, "echo 'usage...'; echo 'ix-run: cannot use KVM: open "
                                         "/dev/kvm: No such file or directory' >&2; exit 1")
            self.assertEqual(machine.kvm_blocker(ix_run),
                             "cannot use KVM: open /dev/kvm: No such file or directory")

    def test_not_built(self):
        self.assertEqual(machine.kvm_blocker("/nonexistent/ix-run"),
                         "/nonexistent/ix-run not built")


if __name__ == "__main__":
    unittest.main()
