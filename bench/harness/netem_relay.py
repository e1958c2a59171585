#!/usr/bin/python3
"""A userspace netem: forwards Ethernet frames between two interfaces, losing, duplicating,
delaying and reordering them the way `tc qdisc ... netem` would.

  netem_relay.py --left IF --right IF [--loss PCT] [--duplicate PCT] [--delay_ms MS]
                 [--reorder PCT] [--reorder_corr PCT] [--seed N] [--max_seconds S]

Why: the kernel here has no sch_netem (CONFIG_NET_SCH_NETEM is not set, and no modules), so the
links of bench/run's netem section (harness/netem.py) run through this relay in a middle
namespace instead: A --veth-- [M: relay] --veth-- B. Frames pass unchanged (ARP included), so both
ends see one Ethernet segment. It is plain Python, one thread: it forwards some tens of thousands
of frames per second, which caps every transfer through it alike.

Each direction has its own impairment, applied to every frame independently, with netem's rules
(sch_netem.c netem_enqueue, as tc sets it up):
  - loss PCT: the frame is dropped;
  - duplicate PCT: a second copy is sent too (each copy then gets its own delay decision);
  - delay MS with reorder PCT: a frame is sent at once with probability PCT (correlated with the
    previous decision by reorder_corr, netem's get_crandom), every other frame waits MS ms; the
    ones sent at once overtake the waiting ones. (tc's gap defaults to 1 when reorder is given.)
Decisions come from a random.Random seeded per direction (--seed), so the sequence of decisions
is reproducible; which frame meets which decision still depends on timing.

Prints "netem-relay: ready" on stdout once both sockets are bound. On SIGTERM/SIGINT (or after
--max_seconds) prints one JSON line of counters per direction and exits 0:
  {"left_to_right": {"in": .., "out": .., "out_bytes": .., "lost": .., "duplicated": ..,
   "reordered": .., "delayed": .., "oversize": .., "send_errors": .., "kernel_drops": ..},
   "right_to_left": {..}}
kernel_drops counts frames the kernel dropped because this relay fell behind (PACKET_STATISTICS);
they are losses the impairment did not choose, so callers report them.
"""

import argparse
import collections
import json
import random
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_IGNORE_OUTGOING = 23
MAX_FRAME = 1514 + 4  # MTU 1500 + Ethernet header (+ a VLAN tag)
_stop = [False]


def _on_stop(signum, frame):
    _stop[0] = True


class Direction:
    """One direction's impairment, queue and counters."""

    def __init__(self, name, out_sock, args, seed):
        self.name = name
        self.out = out_sock
        self.loss = args.loss / 100.0
        self.dup = args.duplicate / 100.0
        self.delay_s = args.delay_ms / 1000.0
        self.reorder = args.reorder / 100.0
        self.corr = args.reorder_corr / 100.0
        self.rng = random.Random(seed)
        self.last_reorder_rnd = 0.0
        self.waiting = collections.deque()  # (release time, frame); one delay, so FIFO is sorted
        self.c = collections.OrderedDict((k, 0) for k in (
            "in", "out", "out_bytes", "lost", "duplicated", "reordered", "delayed", "oversize",
            "send_errors", "kernel_drops"))

    def _reorder_now(self):
        # netem's get_crandom: the next value leans towards the last one by the correlation.
        rnd = self.rng.random()
        value = rnd * (1.0 - self.corr) + self.last_reorder_rnd * self.corr
        self.last_reorder_rnd = value
        return value < self.reorder

    def _send(self, frame):
        try:
            self.out.send(frame)
            self.c["out"] += 1
            self.c["out_bytes"] += len(frame)
        except OSError:
            self.c["send_errors"] += 1

    def take(self, frame, now):
        self.c["in"] += 1
        if len(frame) > MAX_FRAME:  # a GSO/GRO super-frame: cannot be sent on as one frame
            self.c["oversize"] += 1
            return
        copies = 1
        if self.dup > 0 and self.rng.random() < self.dup:
            copies += 1
            self.c["duplicated"] += 1
        if self.loss > 0 and self.rng.random() < self.loss:
            copies -= 1
            self.c["lost"] += 1
        for _ in range(copies):
            if self.delay_s > 0 and not (self.reorder > 0 and self._reorder_now()):
                self.waiting.append((now + self.delay_s, frame))
                self.c["delayed"] += 1
            else:
                if self.waiting:
                    self.c["reordered"] += 1  # it overtakes the frames still waiting
                self._send(frame)

    def release(self, now):
        while self.waiting and self.waiting[0][0] <= now:
            self._send(self.waiting.popleft()[1])

    def next_release(self):
        return self.waiting[0][0] if self.waiting else None


def open_socket(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)  # not the frames we send ourselves
    try:
        s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE (root)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((ifname, 0))
    s.setblocking(False)
    # Frames that arrived before the bind filter applied may be from anywhere: drain them.
    while True:
        try:
            s.recv(65536)
        except BlockingIOError:
            break
    return s


def kernel_drops(sock):
    """Frames dropped since the last call (tpacket_stats.tp_drops; reading resets it)."""
    packets, drops = struct.unpack("II", sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
    return drops


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--left", required=True)
    ap.add_argument("--right", required=True)
    ap.add_argument("--loss", type=float, default=0.0, help="percent")
    ap.add_argument("--duplicate", type=float, default=0.0, help="percent")
    ap.add_argument("--delay_ms", type=float, default=0.0)
    ap.add_argument("--reorder", type=float, default=0.0, help="percent sent at once")
    ap.add_argument("--reorder_corr", type=float, default=0.0, help="percent")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max_seconds", type=float, default=600.0)
    args = ap.parse_args()
    for name in ("loss", "duplicate", "reorder", "reorder_corr"):
        if not 0 <= getattr(args, name) <= 100:
            ap.error("--%s must be a percentage in 0..100" % name)
    if args.reorder > 0 and args.delay_ms <= 0:
        ap.error("--reorder needs --delay_ms (as netem: reordering needs some delay)")
    signal.signal(signal.SIGTERM, _on_stop)
    signal.signal(signal.SIGINT, _on_stop)
    left, right = open_socket(args.left), open_socket(args.right)
    dirs = {left.fileno(): (left, Direction("left_to_right", right, args, args.seed * 2)),
            right.fileno(): (right, Direction("right_to_left", left, args, args.seed * 2 + 1))}
    poller = select.poll()
    for fd in dirs:
        poller.register(fd, select.POLLIN)
    print("netem-relay: ready %s <-> %s" % (args.left, args.right), flush=True)
    end = time.monotonic() + args.max_seconds
    buf = bytearray(65536)
    while not _stop[0]:
        now = time.monotonic()
        if now >= end:
            break
        wake = [d.next_release() for _, d in dirs.values() if d.next_release() is not None]
        timeout_ms = 200 if not wake else max(0, min(200, int((min(wake) - now) * 1000) + 1))
        try:
            ready = poller.poll(timeout_ms)
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd, _ in ready:
            sock, d = dirs[fd]
            for _ in range(64):  # a batch, then look at the other side and the timers
                try:
                    n = sock.recv_into(buf)
                except (BlockingIOError, InterruptedError):
                    break
                d.take(bytes(buf[:n]), now)
        for sock, d in dirs.values():
            d.release(now)
    for sock, d in dirs.values():
        d.release(float("inf"))  # frames still waiting go out, as a qdisc would drain
        d.c["kernel_drops"] += kernel_drops(sock)
    print(json.dumps({d.name: d.c for _, d in dirs.values()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
