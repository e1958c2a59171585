#!/usr/bin/python3
"""Forged ICMP errors against a live TCP connection (run by echo_netns_test in namespace B).

usage: icmp_forge.py IP PORT BYTES FORGED

Opens one TCP connection to the echo server at IP:PORT and echoes BYTES through it (a thread
sends, the main thread reads back and compares), while FORGED ICMP errors go to IP through a raw
ICMP socket, one every 0.5 ms, each quoting the connection's 4-tuple as if the server had sent the
packet: destination unreachable with codes 0-4 (frag-needed with next-hop MTUs 68..1400),
13 (administratively prohibited) and time exceeded, with random sequence numbers, so that
almost all fall outside the server's send window (RFC 5927), and one in ten for a port the
server has no connection on. Prints "FORGED <n>" and "ECHOED <bytes>"; exits 0 only if every
byte came back in order and the connection was never reset. Bounded: 60 s in all.
"""
import random
import socket
import struct
import sys
import threading
import time


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def icmp_error(rnd, server_ip, client_ip, server_port, client_port):
    kind = rnd.randrange(7)
    typ, code, mtu = (3, kind, 0) if kind < 5 else ((3, 13, 0) if kind == 5 else (11, 0, 0))
    if code == 4 and typ == 3:
        mtu = rnd.choice([68, 296, 576, 1000, 1400])
    if rnd.randrange(10) == 0:
        client_port = rnd.randrange(1024, 65536)  # no such connection
    # The quoted packet: an IPv4 header from the server to us, then 8 bytes of its TCP header.
    quoted_ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 1500, 0, 0x4000, 64, 6, 0,
                            socket.inet_aton(server_ip), socket.inet_aton(client_ip))
    quoted_ip = quoted_ip[:10] + struct.pack("!H", checksum(quoted_ip)) + quoted_ip[12:]
    quoted_tcp = struct.pack("!HHI", server_port, client_port, rnd.randrange(1 << 32))
    body = struct.pack("!BBHHH", typ, code, 0, 0, mtu) + quoted_ip + quoted_tcp
    return body[:2] + struct.pack("!H", checksum(body)) + body[4:]


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    ip, port, nbytes, forged = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    deadline = time.monotonic() + 60
    c = socket.create_connection((ip, port), timeout=10)
    client_ip, client_port = c.getsockname()
    data = bytes(random.Random(7).randrange(256) for _ in range(nbytes))
    failure = []

    def sender():
        try:
            view = memoryview(data)
            while view and time.monotonic() < deadline:
                n = c.send(view[:65536])
                view = view[n:]
                time.sleep(0.001)  # stretch the transfer over the forgery
        except OSError as e:
            failure.append("send: %s" % e)

    t = threading.Thread(target=sender)
    t.start()
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    rnd = random.Random(99)
    got = bytearray()
    sent = 0
    next_forge = time.monotonic()
    c.settimeout(0.01)
    while len(got) < nbytes and time.monotonic() < deadline and not failure:
        now = time.monotonic()
        while sent < forged and next_forge <= now:
            raw.sendto(icmp_error(rnd, ip, client_ip, port, client_port), (ip, 0))
            sent += 1
            next_forge += 0.0005
        try:
            chunk = c.recv(65536)
            if not chunk:
                failure.append("connection closed by the server")
                break
            got += chunk
        except socket.timeout:
            pass
        except OSError as e:
            failure.append("recv: %s" % e)
    while sent < forged and time.monotonic() < deadline:  # the rest, if the echo was quick
        raw.sendto(icmp_error(rnd, ip, client_ip, port, client_port), (ip, 0))
        sent += 1
        time.sleep(0.0005)
    t.join(timeout=max(0.0, deadline - time.monotonic()))
    print("FORGED %d" % sent)
    print("ECHOED %d" % len(got))
    if got != data[:len(got)]:
        failure.append("echo differs from what was sent")
    if len(got) != nbytes:
        failure.append("echoed %d of %d bytes" % (len(got), nbytes))
    for f in failure:
        print(f)
    c.close()
    return 0 if not failure else 1


if __name__ == "__main__":
    sys.exit(main())
