"""Run inside a namespace: echo UDP datagrams on the given ports (IPv4 and IPv6); optionally a TCP echo too."""

import json
import selectors
import socket
import sys

ports = json.loads(sys.argv[1])
tcp_port = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--tcp" else None
selector = selectors.DefaultSelector()
for port in ports:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::", port))
    selector.register(sock, selectors.EVENT_READ, "udp")
if tcp_port:
    server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("::", tcp_port))
    server.listen(8)
    selector.register(server, selectors.EVENT_READ, "accept")
print("ready", flush=True)
while True:
    for key, _ in selector.select():
        sock = key.fileobj
        if key.data == "udp":
            data, peer = sock.recvfrom(2048)
            sock.sendto(data, peer)
        elif key.data == "accept":
            conn, _peer = sock.accept()
            selector.register(conn, selectors.EVENT_READ, "echo")
        else:
            data = sock.recv(2048)
            if data:
                sock.sendall(data)
            else:
                selector.unregister(sock)
                sock.close()
