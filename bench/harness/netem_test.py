"""Unit tests of the netem section's pure parts (bench_harness_unit): harness/netem.py's parsers
and summaries, netem_relay.py's impairment decisions, transfer.py's TCP_INFO decoding,
netns.py's leftover names and report.py's table."""

import argparse
import struct
import unittest

from harness import netem, netem_relay, netns, report, stats, transfer

IX_DUMP = """ix-echo: open_connections 1 tcp_connections 1
  stack.rx_frames 10
  tcp.retransmits 3
ix-echo: open_connections 0 tcp_connections 0
  xsk.rx_dropped 2
  tcp.retransmits 29
  tcp.retransmitted_bytes 41992
  tcp.sack_recoveries 24
  tcp.rto_expirations 1
  echo.bytes_echoed 4000000
"""

SNMP = """Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 1234
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens OutSegs RetransSegs
Tcp: 1 200 120000 -1 3 995 7
Udp: InDatagrams NoPorts
Udp: 0 0
TcpExt: SyncookiesSent TCPSackRecovery TCPTimeouts
TcpExt: 0 2 1
"""

SS = """LISTEN 0      4096       10.77.1.2:7            0.0.0.0:*
\t cubic rto:200 mss:536
ESTAB  0      0          10.77.1.2:7          10.77.1.1:41234
\t ts sack cubic wscale:7,7 rto:204 rtt:3.1/1.2 mss:1448 bytes_sent:1049000 bytes_retrans:10060 retrans:0/9 dsack_dups:1
"""


def client(ok=True, seconds=0.5, nbytes=1 << 20, retrans=4, bytes_retrans=5792, sack=True):
    return {"ok": ok, "bytes": nbytes, "seconds": seconds,
            "tcp_info": {"total_retrans_segs": retrans, "bytes_retrans": bytes_retrans,
                         "sack": sack}}


RELAY = {"left_to_right": {"in": 100, "out": 99, "out_bytes": 99000, "lost": 1,
                           "kernel_drops": 0, "oversize": 0},
         "right_to_left": {"in": 50, "out": 51, "out_bytes": 1000, "lost": 0,
                           "kernel_drops": 2, "oversize": 1}}


class DescribeTest(unittest.TestCase):
    def test_cases_in_tc_words(self):
        self.assertEqual(netem.describe("none"), "none")
        self.assertEqual(netem.describe("loss1"), "loss 1%")
        self.assertEqual(netem.describe("dup1"), "duplicate 1%")
        self.assertEqual(netem.describe("reorder25"), "delay 5ms reorder 25% 50%")
        self.assertEqual(netem.describe("mixed"),
                         "delay 5ms reorder 25% 50% loss 1% duplicate 1%")

    def test_relay_args(self):
        self.assertEqual(netem.relay_args({}, 3), ["--seed=3"])
        self.assertEqual(netem.relay_args(netem.CASES["mixed"], 1),
                         ["--seed=1", "--loss=1", "--duplicate=1", "--delay_ms=5",
                          "--reorder=25", "--reorder_corr=50"])

    def test_settings_by_mode_with_overrides(self):
        self.assertEqual(netem.settings({"name": "quick"})["repeats"], 1)
        full = netem.settings({"name": "full"})
        self.assertIn("none", full["cases"])
        self.assertTrue(all(c in netem.CASES for c in full["cases"]))
        st = netem.settings({"name": "full", "netem": {"bytes": 1000}})
        self.assertEqual((st["bytes"], st["repeats"]), (1000, full["repeats"]))
        self.assertNotEqual(netem.SETTINGS["full"]["bytes"], 1000)  # not changed in place


class ParseTest(unittest.TestCase):
    def test_ix_counters_last_dump_wins(self):
        c = netem.parse_ix_counters(IX_DUMP)
        self.assertEqual(c["tcp.retransmits"], 29)
        self.assertEqual(c["tcp.retransmitted_bytes"], 41992)
        self.assertEqual(c["xsk.rx_dropped"], 2)
        self.assertNotIn("ix-echo:", " ".join(c))

    def test_proc_net(self):
        c = netem.parse_proc_net(SNMP)
        self.assertEqual(c["Tcp.RetransSegs"], 7)
        self.assertEqual(c["Tcp.MaxConn"], -1)
        self.assertEqual(c["TcpExt.TCPSackRecovery"], 2)
        self.assertEqual(c["Ip.InReceives"], 1234)
        self.assertNotIn("Tcp.Udp:", c)
        self.assertEqual(netem.delta({"a": 5, "b": 1}, {"a": 2}), {"a": 3, "b": 1})

    def test_ss_server_socket(self):
        self.assertEqual(netem.parse_ss_server(SS, 7),
                         {"bytes_retrans": 10060, "retrans_total": 9, "bytes_sent": 1049000})
        self.assertEqual(netem.parse_ss_server(SS, 8), {})
        self.assertEqual(netem.parse_ss_server("", 7), {})

    def test_ss_without_retransmissions(self):
        r = netem.parse_ss_server("ESTAB 0 0 10.0.0.2:7 10.0.0.1:5\n\t bytes_sent:10\n", 7)
        self.assertEqual(r, {"bytes_retrans": 0, "retrans_total": 0, "bytes_sent": 10})


class SummaryTest(unittest.TestCase):
    def test_ix_run(self):
        r = netem.summarize_run("ix-echo", netem.parse_ix_counters(IX_DUMP), {}, {}, {},
                                client(), RELAY)
        self.assertTrue(r["ok"])
        self.assertEqual((r["server_retrans_segs"], r["server_retrans_bytes"]), (29, 41992))
        self.assertEqual((r["client_retrans_segs"], r["client_retrans_bytes"]), (4, 5792))
        self.assertEqual(r["retrans_bytes_total"], 41992 + 5792)
        self.assertEqual(r["server_rto_expirations"], 1)
        self.assertAlmostEqual(r["goodput_mib_s"], 2.0)
        self.assertAlmostEqual(r["relay_frames_per_s"], 150 / 0.5)
        self.assertAlmostEqual(r["relay_mib_s"], 100000 / 0.5 / (1 << 20))
        self.assertEqual(r["relay_unchosen_drops"], 3)
        self.assertTrue(r["sack_negotiated"])

    def test_ix_zero_counters_are_left_out_of_the_dump(self):
        r = netem.summarize_run("ix-echo-nosack", {}, {}, {}, {}, client(sack=False))
        self.assertEqual((r["server_retrans_segs"], r["server_retrans_bytes"]), (0, 0))
        self.assertIsNone(r["relay_unchosen_drops"])
        # Segments without bytes: the engine does not count bytes.
        r = netem.summarize_run("ix-echo", {"tcp.retransmits": 2}, {}, {}, {}, client())
        self.assertIsNone(r["server_retrans_bytes"])
        self.assertIsNone(r["retrans_bytes_total"])

    def test_linux_run(self):
        ns_b = {"Tcp.RetransSegs": 9, "TcpExt.TCPTimeouts": 0}
        r = netem.summarize_run("linux-epoll", {}, {"TcpExt.TCPSackRecovery": 1}, ns_b,
                                netem.parse_ss_server(SS, 7), client())
        self.assertEqual((r["server_retrans_segs"], r["server_retrans_bytes"]), (9, 10060))
        self.assertEqual(r["client_sack_recoveries"], 1)
        self.assertEqual(r["server_rto_expirations"], 0)

    def test_failed_transfer_has_no_goodput(self):
        r = netem.summarize_run("linux-epoll", {}, {}, {}, {}, client(ok=False))
        self.assertFalse(r["ok"])
        self.assertNotIn("goodput_mib_s", r)

    def test_summarize_case_drops_invalid_runs(self):
        runs = [dict(ok=True, seconds=1.0), dict(ok=True, seconds=3.0),
                dict(ok=True, seconds=100.0, failed="server died"), dict(ok=False, seconds=50.0)]
        s = netem.summarize_case(runs)
        self.assertEqual((s["seconds"]["n"], s["seconds"]["median"]), (2, 2.0))
        self.assertEqual(s["goodput_mib_s"]["n"], 0)

    def test_verdict(self):
        good = {"exit_status": 0, "stderr_tail": ""}
        self.assertEqual(netem.run_verdict({"ok": True}, True, good, True), "")
        self.assertIn("timed out", netem.run_verdict({"ok": False, "error": "timed out"}, True,
                                                     good, True))
        self.assertIn("died", netem.run_verdict({"ok": True}, False, good, True))
        self.assertIn("exited 1", netem.run_verdict({"ok": True}, True,
                                                    {"exit_status": 1, "stderr_tail": "x"}, True))
        self.assertEqual(netem.run_verdict({"ok": True}, True, {"exit_status": -15}, False), "")


def case_result(case, system, seconds, server_bytes, client_bytes=0, goodput=1.0):
    runs = [{"ok": True, "seconds": seconds, "server_retrans_bytes": server_bytes,
             "client_retrans_bytes": client_bytes, "goodput_mib_s": goodput,
             "retrans_bytes_total": server_bytes + client_bytes, "relay_frames_per_s": 1000.0,
             "relay_mib_s": 5.0, "sack_negotiated": system != "ix-echo-nosack"}]
    return {"case": case, "system": system, "runs": runs, "summary": netem.summarize_case(runs)}


def section():
    results = [case_result("none", "ix-echo", 0.5, 0, goodput=8.0),
               case_result("none", "linux-epoll", 0.4, 0, goodput=10.0),
               case_result("loss1", "ix-echo", 2.0, 3000, 1000),
               case_result("loss1", "ix-echo-nosack", 3.0, 6000),
               case_result("loss1", "linux-epoll", 1.0, 1500, 500),
               {"case": "loss1", "system": "ixd-x", "runs": [], "skipped": "not built"}]
    results[3]["failed"] = "run 1: transfer: timed out"
    return {"results": results, "ratios_vs_linux": netem.ratios_vs_linux(results),
            "raw_limit": netem.raw_limit(results), "settings": netem.SETTINGS["quick"],
            "impairments": {"none": "none", "loss1": "loss 1%"}, "client_cpu": 0,
            "placement": "server on CPU 1"}


class RatioTest(unittest.TestCase):
    def test_ratios_against_linux_in_the_same_case(self):
        r = section()["ratios_vs_linux"]
        self.assertAlmostEqual(r["loss1"]["ix-echo"]["seconds"], 2.0)
        self.assertAlmostEqual(r["loss1"]["ix-echo"]["server_retrans_bytes"], 2.0)
        self.assertAlmostEqual(r["loss1"]["ix-echo"]["retrans_bytes_total"], 2.0)
        self.assertAlmostEqual(r["loss1"]["ix-echo-nosack"]["seconds"], 3.0)
        self.assertNotIn("linux-epoll", r["loss1"])
        # Linux retransmitted nothing: no ratio.
        self.assertIsNone(r["none"]["ix-echo"]["server_retrans_bytes"])
        self.assertAlmostEqual(r["none"]["ix-echo"]["goodput_mib_s"], 0.8)

    def test_no_baseline_no_ratios(self):
        self.assertEqual(netem.ratios_vs_linux([case_result("loss1", "ix-echo", 1.0, 0)]), {})

    def test_raw_limit_is_the_best_unimpaired_goodput(self):
        lim = section()["raw_limit"]
        self.assertEqual((lim["system"], lim["goodput_mib_s"]), ("linux-epoll", 10.0))
        self.assertEqual(lim["relay_frames_per_s"], 1000.0)
        self.assertIsNone(netem.raw_limit([case_result("loss1", "ix-echo", 1.0, 0)]))

    def test_failures(self):
        self.assertEqual(netem.failures(section()),
                         ["netem loss1 ix-echo-nosack: run 1: transfer: timed out"])
        self.assertEqual(netem.failures(None), [])


class ReportTest(unittest.TestCase):
    def test_table(self):
        text = "\n".join(report.netem_lines(section()))
        self.assertIn("Raw limit (case none, no impairment): 10.0 MiB/s", text)
        self.assertIn("| none | none: the relay only (raw limit) |", text)
        self.assertIn("| loss1 | ix-echo | on | 2.000 | 1.0 | - | 3,000 | - | 1,000 | - | "
                      "2.00x | 2.00x | 2.00x |", text)
        self.assertIn("| loss1 | ix-echo-nosack | off |", text)
        self.assertIn("| loss1 | linux-epoll | on | 1.000 | 1.0 | - | 1,500 | - | 500 | - | "
                      "1.00x | 1.00x | 1.00x |", text)
        self.assertIn("| none | linux-epoll | on | 0.400 | 10.0 | - | 0 | - | 0 | - | 1.00x | - "
                      "| - |", text)
        self.assertIn("ix-echo-nosack **FAILED**: run 1: transfer: timed out", text)
        self.assertIn("ixd-x skipped: not built", text)
        self.assertIn("sharing CPU 0", text)

    def test_absent_section(self):
        self.assertEqual(report.netem_lines(None), [])


class _Sink:
    def __init__(self):
        self.frames = []

    def send(self, frame):
        self.frames.append(frame)


def direction(**kw):
    args = argparse.Namespace(loss=0.0, duplicate=0.0, delay_ms=0.0, reorder=0.0,
                              reorder_corr=0.0)
    for k, v in kw.items():
        setattr(args, k, v)
    sink = _Sink()
    return netem_relay.Direction("left_to_right", sink, args, seed=1), sink


class RelayTest(unittest.TestCase):
    def test_pass_through(self):
        d, sink = direction()
        for i in range(10):
            d.take(b"f%d" % i, 0.0)
        self.assertEqual(sink.frames, [b"f%d" % i for i in range(10)])
        self.assertEqual((d.c["in"], d.c["out"], d.c["out_bytes"]), (10, 10, 20))

    def test_loss_and_duplication(self):
        d, sink = direction(loss=100.0)
        d.take(b"x", 0.0)
        self.assertEqual((sink.frames, d.c["lost"]), ([], 1))
        d, sink = direction(duplicate=100.0)
        d.take(b"x", 0.0)
        self.assertEqual((sink.frames, d.c["duplicated"]), ([b"x", b"x"], 1))

    def test_loss_rate_is_roughly_the_percentage(self):
        d, sink = direction(loss=10.0)
        for _ in range(10000):
            d.take(b"x", 0.0)
        self.assertTrue(800 < d.c["lost"] < 1200, d.c["lost"])

    def test_oversize_frames_are_counted_not_sent(self):
        d, sink = direction()
        d.take(b"x" * (netem_relay.MAX_FRAME + 1), 0.0)
        self.assertEqual((sink.frames, d.c["oversize"]), ([], 1))

    def test_delay_then_release(self):
        d, sink = direction(delay_ms=5.0)
        d.take(b"a", 0.0)
        d.take(b"b", 0.001)
        self.assertEqual(sink.frames, [])
        self.assertAlmostEqual(d.next_release(), 0.005)
        d.release(0.0055)
        self.assertEqual(sink.frames, [b"a"])
        d.release(1.0)
        self.assertEqual(sink.frames, [b"a", b"b"])
        self.assertIsNone(d.next_release())

    def test_reordered_frames_overtake_the_waiting_ones(self):
        d, sink = direction(delay_ms=5.0, reorder=100.0)
        d.take(b"a", 0.0)
        self.assertEqual((sink.frames, d.c["reordered"]), ([b"a"], 0))  # nothing to overtake
        d, sink = direction(delay_ms=5.0, reorder=50.0)
        for i in range(200):
            d.take(b"%d" % i, 0.0)
        d.release(1.0)
        self.assertGreater(d.c["reordered"], 0)
        # Sent at once: reordered, unless nothing was waiting then.
        self.assertIn(200 - d.c["delayed"] - d.c["reordered"], (0, 1))
        self.assertEqual(sorted(sink.frames), sorted(b"%d" % i for i in range(200)))
        self.assertNotEqual(sink.frames, [b"%d" % i for i in range(200)])

    def test_decisions_are_seeded(self):
        a, sa = direction(loss=30.0)
        b, sb = direction(loss=30.0)
        for i in range(100):
            a.take(b"%d" % i, 0.0)
            b.take(b"%d" % i, 0.0)
        self.assertEqual(sa.frames, sb.frames)


class _FakeSock:
    def __init__(self, raw):
        self.raw = raw

    def getsockopt(self, level, opt, size):
        return self.raw[:size]


class TransferTest(unittest.TestCase):
    def test_pattern_is_reproducible(self):
        self.assertEqual(transfer.pattern(1000, 5), transfer.pattern(1000, 5))
        self.assertNotEqual(transfer.pattern(1000, 5), transfer.pattern(1000, 6))
        self.assertEqual(len(transfer.pattern(12345, 1)), 12345)

    def test_tcp_info_offsets(self):
        raw = bytearray(232)
        raw[5] = transfer.TCPI_OPT_SACK | transfer.TCPI_OPT_TIMESTAMPS
        struct.pack_into("I", raw, 16, 1448)
        struct.pack_into("I", raw, 100, 7)
        struct.pack_into("Q", raw, 200, 1 << 20)
        struct.pack_into("Q", raw, 208, 10136)
        info = transfer.tcp_info(_FakeSock(bytes(raw)))
        self.assertEqual((info["sack"], info["timestamps"], info["wscale"]), (True, True, False))
        self.assertEqual((info["snd_mss"], info["total_retrans_segs"]), (1448, 7))
        self.assertEqual((info["bytes_sent"], info["bytes_retrans"]), (1 << 20, 10136))
        # An older kernel's shorter struct: the missing fields read as 0.
        self.assertEqual(transfer.tcp_info(_FakeSock(bytes(raw[:104])))["bytes_retrans"], 0)


class NetnsNamesTest(unittest.TestCase):
    def test_owner_pid_of_our_namespaces(self):
        self.assertEqual(netns.owner_pid("ixb123-4a"), 123)
        self.assertEqual(netns.owner_pid("ixb123-4b"), 123)
        self.assertEqual(netns.owner_pid("ixb123-14m"), 123)
        self.assertIsNone(netns.owner_pid("ixb123-4x"))
        self.assertIsNone(netns.owner_pid("other123-4a"))
        self.assertIsNone(netns.owner_pid("ixb123a"))


if __name__ == "__main__":
    unittest.main()
