"""Unit tests of harness/micro.py's KVM skips (bench_harness_unit): where KVM is unusable the KVM
rows are skipped with the reason and nothing fails; where it is usable a failing KVM measurement
is a failure. The tools are stand-in scripts that write the JSON the real ones write."""

import importlib.machinery
import importlib.util
import os
import sys
import tempfile
import unittest

from harness import config, micro, report

# Stand-in for ix-bench-syscall: with --no_kvm only native and ptrace, the rest listed as skipped;
# without it every figure, ix_ring3 failed (-1) and exit 1 when FAIL_KVM is set.
FAKE_SYSCALL = r'''#!/usr/bin/python3
import json, sys
args = sys.argv[1:]
out = [a.split("=", 1)[1] for a in args if a.startswith("--json=")][0]
kvm = ["ix_ring3", "raw_exit_ring3", "ix_ring0", "raw_exit_ring0", "ix_null_ring3"]
no_kvm = "--no_kvm" in args
fail = FAIL_KVM and not no_kvm
figs = {n: {"median_ns": 100.0, "min_ns": 90.0, "max_ns": 110.0, "what": n}
        for n in ["native", "ptrace"] + ([] if no_kvm else kvm)}
if fail:
    figs["ix_ring3"] = {"median_ns": -1, "min_ns": -1, "max_ns": -1, "what": "ix_ring3"}
json.dump({"figures": figs, "ratios": {}, "skipped_figures": kvm if no_kvm else []},
          open(out, "w"))
sys.exit(1 if fail else 0)
'''

# Stand-in for ix-bench-dune-vm: one good figure.
FAKE_DUNE = r'''#!/usr/bin/python3
import json, sys
out = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--json=")][0]
json.dump({"checks_ok": True,
           "figures": {"trap": {"median_ns": 500.0, "min_ns": 400.0, "max_ns": 600.0}}},
          open(out, "w"))
'''

# Stand-in for an ix-run that cannot start a guest although KVM looked usable.
FAKE_BROKEN_IX_RUN = "#!/bin/sh\necho 'ix-run: KVM_RUN: Bad address' >&2\nexit 1\n"

REASON = "cannot use KVM: open /dev/kvm: No such file or directory"


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


def load_bench_run():
    """bench/run as a module (it has no .py suffix), for its exit-status logic."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "run")
    loader = importlib.machinery.SourceFileLoader("bench_run", path)
    spec = importlib.util.spec_from_loader("bench_run", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


class MicroKvmSkipTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        d = self.dir.name
        self.paths = {"ix_run": write(d, "ix-run", FAKE_BROKEN_IX_RUN),
                      "dune_vm": write(d, "ix-bench-dune-vm", FAKE_DUNE), "kvm_blocker": REASON}
        self.log = lambda msg: None

    def tearDown(self):
        self.dir.cleanup()

    def syscall(self, fail_kvm):
        self.paths["syscall"] = write(self.dir.name, "ix-bench-syscall",
                                      FAKE_SYSCALL.replace("FAIL_KVM", str(fail_kvm)))
        return micro.run_syscall(self.paths, config.QUICK, self.log)

    def test_syscall_without_kvm_skips_kvm_rows_with_reason(self):
        r = self.syscall(fail_kvm=True)  # would fail if the KVM rows were run
        self.assertIn("--no_kvm", r["command"])
        self.assertNotIn("failed", r)
        self.assertEqual(list(r["figures"]), ["native", "ptrace"])
        self.assertEqual(list(r["skipped_figures"]), ["ix_ring3", "raw_exit_ring3",
                                                      "ix_null_ring3", "ix_ring0",
                                                      "raw_exit_ring0"])
        self.assertEqual(set(r["skipped_figures"].values()), {REASON})

    def test_syscall_with_kvm_failure_fails(self):
        self.paths["kvm_blocker"] = ""
        r = self.syscall(fail_kvm=True)
        self.assertNotIn("--no_kvm", r["command"])
        self.assertIn("exited 1", r["failed"])
        self.assertEqual(r["skipped_figures"], {})
        self.assertIsNone(r["figures"]["ix_ring3"]["median"])

    def test_dune_without_kvm_runs_native_only(self):
        r = micro.run_dune(self.paths, config.QUICK, self.log)
        self.assertEqual(list(r["modes"]), ["native"])
        self.assertEqual(r["ixrun_skipped"], REASON)
        self.assertNotIn("failed", r)
        self.assertEqual(r["modes"]["native"]["figures"]["trap"]["median"], 500.0)

    def test_dune_with_kvm_failure_fails(self):
        self.paths["kvm_blocker"] = ""
        r = micro.run_dune(self.paths, config.QUICK, self.log)
        self.assertNotIn("ixrun_skipped", r)
        self.assertIn("ix-run: no JSON", r["failed"])

    def test_skips_are_reported_and_not_failures(self):
        run = load_bench_run()
        res = {"syscall": self.syscall(fail_kvm=False),
               "dune": micro.run_dune(self.paths, config.QUICK, self.log),
               "machine": {"kvm": {"ix_run": REASON}}, "paths": self.paths}
        self.assertEqual(run.collect_failures(res), [])  # bench/run exits 0
        self.assertEqual(report.micro_skips(res)[0], "syscall ix_ring3: " + REASON)
        self.assertEqual(report.micro_skips(res)[-1], "dune ix-run: " + REASON)
        md = report.render(res)
        self.assertIn("| ix_ring3 | skipped: %s |" % REASON, md)
        self.assertIn("| raw_exit_ring0 | skipped: %s |" % REASON, md)
        self.assertIn("| native | 100 (90..110) |", md)
        self.assertIn("- ix-run skipped: " + REASON, md)
        self.assertIn("| trap | 500 (400..600) | skipped | - |", md)
        self.assertIn("| KVM usable (`ix-run --info`) | no: %s |" % REASON, md)
        self.assertIn("- syscall ix_ring0: " + REASON, md)
        self.assertIn("left out: here all of them", md)
        self.assertNotIn("| ratio | value |", md)

    def test_kvm_failure_is_a_failure(self):
        self.paths["kvm_blocker"] = ""
        res = {"syscall": self.syscall(fail_kvm=True),
               "dune": micro.run_dune(self.paths, config.QUICK, self.log)}
        fails = load_bench_run().collect_failures(res)
        self.assertEqual(len(fails), 2, fails)  # bench/run exits 1
        self.assertEqual(report.micro_skips(res), [])


if __name__ == "__main__":
    sys.exit(unittest.main())
