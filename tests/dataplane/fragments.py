#!/usr/bin/python3
"""IPv4 fragments against the ix stack (run by echo_netns_test in namespace B).

usage: fragments.py echo IP PORT COUNT SIZE
       fragments.py flood IP SECONDS MAX_FRAGMENTS

echo:  sends COUNT distinct UDP datagrams of SIZE bytes to IP:PORT without DF (the route to IP
       has a small MTU, so the Linux stack fragments them) and checks each echo byte for byte,
       one at a time, each within 2 s. Prints "ECHOED <ok>/<count>"; exits 0 only if all came back.
flood: sends hostile fragments to IP through a raw socket for SECONDS (at most MAX_FRAGMENTS):
       random ids, offsets, lengths and MF bits, with bursts of overlapping and duplicate pieces
       and some huge offsets (a datagram past 65535 bytes). None completes a datagram except by
       chance. Prints "SENT <n>". Seeded, so runs repeat.
"""
import random
import socket
import struct
import sys
import time

IP_MTU_DISCOVER = 10
IP_PMTUDISC_DONT = 0


def echo(ip, port, count, size):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
    s.connect((ip, port))
    s.settimeout(2)
    ok = 0
    for i in range(count):
        body = (b"%08d" % i) + bytes((i + j) % 251 for j in range(size - 8))
        s.send(body)
        try:
            while True:
                got = s.recv(65535)
                if got[:8] == body[:8]:  # skip a late echo of an earlier datagram
                    break
        except socket.timeout:
            print("no echo for datagram %d" % i)
            continue
        if got == body:
            ok += 1
        else:
            print("datagram %d came back different (%d bytes)" % (i, len(got)))
    print("ECHOED %d/%d" % (ok, count))
    return 0 if ok == count else 1


def checksum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def fragment(src, dst, ident, offset, more, payload):
    """An IPv4 header (checksum right) with `payload` at byte `offset` of datagram `ident`."""
    flags = (0x2000 if more else 0) | (offset // 8)
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, flags, 64, 17, 0, src,
                    dst)
    h = h[:10] + struct.pack("!H", checksum(h)) + h[12:]
    return h + payload


def flood(ip, seconds, max_fragments):
    rnd = random.Random(12345)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)  # implies IP_HDRINCL
    dst = socket.inet_aton(ip)
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect((ip, 9))
    src = socket.inet_aton(probe.getsockname()[0])
    probe.close()
    sent = 0
    end = time.monotonic() + seconds
    while sent < max_fragments and time.monotonic() < end:
        kind = rnd.randrange(4)
        ident = rnd.randrange(65536)
        if kind == 0:  # a random piece of a random datagram
            pkts = [fragment(src, dst, ident, rnd.randrange(8192) * 8, rnd.random() < 0.8,
                             bytes(rnd.randrange(1, 176) * 8))]
        elif kind == 1:  # overlapping and duplicate pieces of one datagram
            base = rnd.randrange(64) * 8
            pkts = [fragment(src, dst, ident, base, True, bytes(512)),
                    fragment(src, dst, ident, base, True, bytes(512)),
                    fragment(src, dst, ident, base + 256, True, bytes(512))]
        elif kind == 2:  # a datagram that would end past 65535 bytes
            pkts = [fragment(src, dst, ident, 0, True, bytes(1024)),
                    fragment(src, dst, ident, 65000, False, bytes(1000))]
        else:  # many tiny first pieces: each holds a slot until the timeout
            pkts = [fragment(src, dst, ident, 0, True, bytes(8))]
        for p in pkts:
            try:
                s.sendto(p, (ip, 0))
                sent += 1
            except OSError:  # ENOBUFS under load: the flood is best effort
                time.sleep(0.001)
    print("SENT %d" % sent)
    return 0


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "echo":
        return echo(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    if len(sys.argv) == 5 and sys.argv[1] == "flood":
        return flood(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
