"""Checks UDP echo semantics of a server: sends datagrams of several sizes, one at a time, and
expects each back unchanged. Run inside the client namespace:

  ip netns exec NS /usr/bin/python3 udp_echo_check.py IP PORT [COUNT]

Prints one JSON line {"sent", "echoed", "wrong", "lost", "rtt_us_median"}; exits 0 if every
datagram came back unchanged, 1 otherwise.
"""

import json
import socket
import sys
import time


def check(ip, port, count, timeout_s=0.5):
    sizes = [1, 18, 64, 512, 1400]
    sent = echoed = wrong = lost = 0
    rtts = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout_s)
        for i in range(count):
            payload = bytes([(i * 7 + j) & 0xFF for j in range(sizes[i % len(sizes)])])
            payload = (b"%06d" % i + payload)[:max(len(payload), 6)]
            t0 = time.monotonic()
            s.sendto(payload, (ip, port))
            sent += 1
            try:
                data, _ = s.recvfrom(65536)
            except socket.timeout:
                lost += 1
                continue
            rtts.append((time.monotonic() - t0) * 1e6)
            if data == payload:
                echoed += 1
            else:
                wrong += 1
    rtts.sort()
    return {"sent": sent, "echoed": echoed, "wrong": wrong, "lost": lost,
            "rtt_us_median": rtts[len(rtts) // 2] if rtts else None}


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: udp_echo_check.py IP PORT [COUNT]")
    r = check(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) == 4 else 20)
    print(json.dumps(r))
    sys.exit(0 if r["echoed"] == r["sent"] else 1)
