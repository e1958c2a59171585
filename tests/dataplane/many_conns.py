#!/usr/bin/python3
"""Many concurrent TCP connections against an echo server (run by echo_netns_test in namespace B).

usage: many_conns.py IP PORT COUNT GO_FILE

Opens COUNT connections (at most 512 handshakes in flight at once) and keeps them all open; prints
"OPEN <n>" and waits (up to 60 s) for GO_FILE to exist, so the test can look at the server while
every connection is open. Then each connection sends one distinct message and must get exactly it
back; then all are closed (client first, FIN). Prints "ECHOED <n>" and "CLOSED <n>", and exits 0
only if every connection opened, echoed and closed. Every wait is bounded.
"""
import errno
import os
import resource
import selectors
import socket
import sys
import time


def main():
    ip, port, count, go_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    resource.setrlimit(resource.RLIMIT_NOFILE, (count + 1024, count + 1024))
    sel = selectors.DefaultSelector()
    socks = []
    pending = set()
    opened = 0
    failed = 0
    deadline = time.monotonic() + 90
    next_index = 0
    while (next_index < count or pending) and time.monotonic() < deadline:
        while next_index < count and len(pending) < 512:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex((ip, port))
            if err not in (0, errno.EINPROGRESS):
                failed += 1
                s.close()
            else:
                pending.add(s)
                sel.register(s, selectors.EVENT_WRITE, next_index)
                socks.append(s)
            next_index += 1
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            sel.unregister(s)
            pending.discard(s)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                opened += 1
            else:
                failed += 1
    print(f"OPEN {opened} failed {failed} pending {len(pending)}", flush=True)
    if opened != count:
        return 1
    go_deadline = time.monotonic() + 60
    while not os.path.exists(go_file) and time.monotonic() < go_deadline:
        time.sleep(0.05)

    want = {}
    got = {}
    for i, s in enumerate(socks):
        msg = f"message {i} from many_conns\n".encode()
        want[s] = msg
        got[s] = b""
        s.send(msg)
        sel.register(s, selectors.EVENT_READ)
    echoed = 0
    deadline = time.monotonic() + 60
    while echoed < count and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            data = s.recv(4096)
            got[s] += data
            if not data or len(got[s]) >= len(want[s]):
                sel.unregister(s)
                if got[s] == want[s]:
                    echoed += 1
                else:
                    print(f"MISMATCH {got[s]!r} != {want[s]!r}", flush=True)
                    deadline = 0
    print(f"ECHOED {echoed}", flush=True)
    closed = 0
    for s in socks:
        s.close()
        closed += 1
    print(f"CLOSED {closed}", flush=True)
    return 0 if echoed == count and closed == count else 1


if __name__ == "__main__":
    sys.exit(main())
