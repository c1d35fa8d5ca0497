"""Run inside the client namespace: which (family, transport, port) reach the server?

TCP: a SYN that passes the server's firewall is answered (SYN-ACK or RST), a dropped one times out.
UDP: the server runs an echo on every probed port; an answer or a port-unreachable means the datagram passed.
"""

import errno
import json
import select
import socket
import sys
import time

args = json.loads(sys.argv[1])
timeout = args["timeout"]
pending = {}
results = []
for family, transport, port in args["probes"]:
    host = args["v4"] if family == "ipv4" else args["v6"]
    af = socket.AF_INET if family == "ipv4" else socket.AF_INET6
    kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(af, kind)
    sock.setblocking(False)
    if transport == "tcp":
        code = sock.connect_ex((host, port))
        if code not in (0, errno.EINPROGRESS):
            results.append([family, transport, port, code == errno.ECONNREFUSED])
            sock.close()
            continue
    else:
        sock.connect((host, port))
        sock.send(b"probe")
    pending[sock] = (family, transport, port)

deadline = time.monotonic() + timeout
while pending and time.monotonic() < deadline:
    tcp = [s for s, p in pending.items() if p[1] == "tcp"]
    udp = [s for s, p in pending.items() if p[1] == "udp"]
    readable, writable, _ = select.select(udp, tcp, [], max(0.0, deadline - time.monotonic()))
    for sock in writable:
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error == errno.EINPROGRESS:
            continue
        family, transport, port = pending.pop(sock)
        results.append([family, transport, port, error in (0, errno.ECONNREFUSED)])
        sock.close()
    for sock in readable:
        family, transport, port = pending.pop(sock)
        try:
            sock.recv(64)
            passed = True
        except ConnectionRefusedError:
            passed = True
        except OSError:
            passed = False
        results.append([family, transport, port, passed])
        sock.close()
for sock, (family, transport, port) in pending.items():
    results.append([family, transport, port, False])
    sock.close()
print(json.dumps(results))
