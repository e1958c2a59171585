#!/usr/bin/python3
"""A bulk TCP transfer through an echo server: sends BYTES of a deterministic pattern, reads them
all back, checks them byte for byte (run in the client's namespace by bench/harness/netem.py).

  transfer.py IP PORT BYTES [--seed N] [--timeout_s 60] [--hold_file PATH]

Sends and receives at once (non-blocking, so the echo never stalls on full buffers). Completion
time runs from the start of connect() to the last echoed byte. Then it reads the socket's
TCP_INFO (the Linux client's own retransmissions, in segments and bytes, and the options the
handshake agreed: SACK, timestamps, window scaling) and prints one JSON line:
  {"ok": true, "bytes": N, "received": N, "seconds": S, "connect_s": S, "mismatch_at": null,
   "tcp_info": {...}, "error": ""}
With --hold_file it then keeps the connection open until PATH exists (at most 10 s), so the
caller can read the server's socket (ss -ti) before the close. Exits 0 only if all BYTES came
back unchanged within --timeout_s; 1 otherwise (the JSON line says why).
"""

import argparse
import json
import os
import random
import selectors
import socket
import struct
import sys
import time

TCPI_OPT_TIMESTAMPS, TCPI_OPT_SACK, TCPI_OPT_WSCALE = 1, 2, 4


def pattern(size, seed):
    """The bytes sent: pseudo-random (no period a misplaced segment could hide in), reproducible."""
    return random.Random(seed).randbytes(size)


def tcp_info(sock):
    """The fields of struct tcp_info (linux/tcp.h) this tool reports."""
    raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
    raw = raw.ljust(232, b"\0")
    opts = raw[5]
    info = {
        "sack": bool(opts & TCPI_OPT_SACK), "timestamps": bool(opts & TCPI_OPT_TIMESTAMPS),
        "wscale": bool(opts & TCPI_OPT_WSCALE),
        "snd_mss": struct.unpack_from("I", raw, 16)[0],
        "rtt_us": struct.unpack_from("I", raw, 68)[0],
        "total_retrans_segs": struct.unpack_from("I", raw, 100)[0],
        "bytes_sent": struct.unpack_from("Q", raw, 200)[0],
        "bytes_retrans": struct.unpack_from("Q", raw, 208)[0],
        "dsack_dups": struct.unpack_from("I", raw, 216)[0],
        "reord_seen": struct.unpack_from("I", raw, 220)[0],
    }
    return info


def transfer(ip, port, data, timeout_s):
    """Returns the result dict (without tcp_info) and the connected socket (or None)."""
    res = {"ok": False, "bytes": len(data), "received": 0, "seconds": None, "connect_s": None,
           "mismatch_at": None, "error": ""}
    start = time.monotonic()
    deadline = start + timeout_s
    try:
        sock = socket.create_connection((ip, port), timeout=min(10.0, timeout_s))
    except OSError as e:
        res["error"] = "connect: %s" % e
        return res, None
    res["connect_s"] = time.monotonic() - start
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    view = memoryview(data)
    sent = 0
    got = bytearray()
    while len(got) < len(data):
        left = deadline - time.monotonic()
        if left <= 0:
            res["error"] = "timed out after %.1f s: sent %d, received %d of %d" % (
                timeout_s, sent, len(got), len(data))
            break
        for _, mask in sel.select(timeout=min(left, 0.5)):
            if mask & selectors.EVENT_WRITE and sent < len(data):
                try:
                    sent += sock.send(view[sent:sent + 262144])
                except BlockingIOError:
                    pass
                if sent == len(data):
                    sel.modify(sock, selectors.EVENT_READ)
            if mask & selectors.EVENT_READ:
                try:
                    chunk = sock.recv(262144)
                except BlockingIOError:
                    continue
                except OSError as e:
                    res["error"] = "recv: %s" % e
                    break
                if not chunk:
                    res["error"] = "server closed after %d of %d bytes" % (len(got), len(data))
                    break
                got += chunk
        if res["error"]:
            break
    res["seconds"] = time.monotonic() - start
    res["received"] = len(got)
    if len(got) > len(data):
        res["error"] = res["error"] or "received %d bytes, more than sent" % len(got)
    n = min(len(got), len(data))
    if got[:n] != data[:n]:
        res["mismatch_at"] = next(i for i in range(n) if got[i] != data[i])
        res["error"] = res["error"] or "byte %d differs" % res["mismatch_at"]
    res["ok"] = not res["error"] and len(got) == len(data)
    sel.close()
    return res, sock


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ip")
    ap.add_argument("port", type=int)
    ap.add_argument("bytes", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout_s", type=float, default=60.0)
    ap.add_argument("--hold_file", default="")
    args = ap.parse_args()
    data = pattern(args.bytes, args.seed)
    res, sock = transfer(args.ip, args.port, data, args.timeout_s)
    if sock is not None:
        try:
            res["tcp_info"] = tcp_info(sock)
        except OSError as e:
            res["tcp_info"] = {"error": str(e)}
    print(json.dumps(res), flush=True)
    if sock is not None:
        if args.hold_file:
            hold_end = time.monotonic() + 10
            while not os.path.exists(args.hold_file) and time.monotonic() < hold_end:
                time.sleep(0.02)
        sock.close()
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
