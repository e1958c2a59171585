#!/usr/bin/python3
"""One established TCP connection that keeps asking an echo server (echo_netns_test, namespace B).

usage: latency_probe.py IP PORT SECONDS [LIMIT_MS]

Connects, then for SECONDS sends a 32-byte message every 10 ms and waits for exactly that echo.
Prints "PROBES <n> MAX_MS <max> P50_MS <p50>" and exits 0 only if every echo came back within
LIMIT_MS (default 1000) and nothing else arrived.
"""
import socket
import sys
import time


def main():
    ip, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    limit_ms = float(sys.argv[4]) if len(sys.argv) > 4 else 1000.0
    s = socket.create_connection((ip, port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rtts = []
    end = time.monotonic() + seconds
    i = 0
    ok = True
    while time.monotonic() < end:
        msg = f"probe {i:08d} ".encode().ljust(32, b".")
        start = time.monotonic()
        s.sendall(msg)
        got = b""
        s.settimeout(limit_ms / 1000.0)
        try:
            while len(got) < len(msg):
                data = s.recv(len(msg) - len(got))
                if not data:
                    break
                got += data
        except socket.timeout:
            pass
        rtt_ms = (time.monotonic() - start) * 1000.0
        if got != msg:
            print(f"probe {i}: got {got!r} after {rtt_ms:.1f} ms", flush=True)
            ok = False
            break
        rtts.append(rtt_ms)
        i += 1
        time.sleep(0.01)
    s.close()
    rtts.sort()
    p50 = rtts[len(rtts) // 2] if rtts else -1
    mx = rtts[-1] if rtts else -1
    print(f"PROBES {len(rtts)} MAX_MS {mx:.2f} P50_MS {p50:.2f}", flush=True)
    return 0 if ok and rtts and mx <= limit_ms else 1


if __name__ == "__main__":
    sys.exit(main())
