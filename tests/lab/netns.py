"""A two-host network in namespaces for testing real firewall rules, created and removed by the test.

    client (192.0.2.1, 2001:db8::1) <--veth--> server (192.0.2.2, 2001:db8::2)

Only documentation addresses, only inside namespaces this module creates; everything is deleted afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLIENT4, SERVER4 = "192.0.2.1", "192.0.2.2"
CLIENT6, SERVER6 = "2001:db8::1", "2001:db8::2"


class LabUnavailable(Exception):
    """The kernel or the environment refuses network namespaces (the reason says why)."""


def _run(*args: str, check: bool = True, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, input=input_text, timeout=60)


@dataclass
class Lab:
    client: str
    server: str

    def in_ns(
        self, ns: str, *args: str, check: bool = True, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return _run("ip", "netns", "exec", ns, *args, check=check, input_text=input_text)

    def load_nft(self, path: Path) -> None:
        result = self.in_ns(self.server, "nft", "-f", str(path), check=False)
        if result.returncode:
            raise AssertionError(f"nft -f failed: {result.stderr}")

    def nft_ruleset(self) -> str:
        return self.in_ns(self.server, "nft", "list", "ruleset").stdout

    def flush(self) -> None:
        self.in_ns(self.server, "nft", "flush", "ruleset", check=False)
        for tool in ("iptables", "ip6tables"):
            for table in ("filter", "raw"):
                self.in_ns(self.server, tool, "-t", table, "-F", check=False)
            self.in_ns(self.server, tool, "-P", "INPUT", "ACCEPT", check=False)
            self.in_ns(self.server, tool, "-P", "OUTPUT", "ACCEPT", check=False)

    def load_iptables(self, v4: Path | None, v6: Path | None) -> None:
        for tool, path in (("iptables-restore", v4), ("ip6tables-restore", v6)):
            if path is None:
                continue
            result = self.in_ns(self.server, tool, str(path), check=False)
            if result.returncode:
                raise AssertionError(f"{tool} failed: {result.stderr}")

    def probe(self, probes: list[tuple[str, str, int]], timeout: float = 0.6) -> dict[tuple[str, str, int], bool]:
        """From the client: does each (family, transport, port) reach the server? True = passed the firewall."""
        udp_ports = sorted({port for _family, transport, port in probes if transport == "udp"})
        echo = None
        if udp_ports:
            echo = subprocess.Popen(
                ["ip", "netns", "exec", self.server, sys.executable, str(HERE / "udp_echo.py"), json.dumps(udp_ports)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert echo.stdout is not None
            ready = echo.stdout.readline()
            assert ready.strip() == "ready", ready + (echo.stderr.read() if echo.stderr else "")
        try:
            result = self.in_ns(
                self.client,
                sys.executable,
                str(HERE / "probe.py"),
                json.dumps({"probes": probes, "timeout": timeout, "v4": SERVER4, "v6": SERVER6}),
            )
        finally:
            if echo is not None:
                echo.kill()
                echo.communicate()
        answers = json.loads(result.stdout)
        return {(f, t, p): ok for f, t, p, ok in answers}

    def outbound_works(self) -> bool:
        """The server's own connections out (to a listener on the client) still get their replies."""
        listener = subprocess.Popen(
            ["ip", "netns", "exec", self.client, sys.executable, str(HERE / "udp_echo.py"), "[5353]", "--tcp", "8000"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert listener.stdout is not None
            assert listener.stdout.readline().strip() == "ready"
            code = (
                "import socket,sys\n"
                "ok=True\n"
                f"for host in ({CLIENT4!r},{CLIENT6!r}):\n"
                "    s=socket.create_connection((host,8000),timeout=2); s.sendall(b'x'); ok&=s.recv(1)==b'x'; s.close()\n"
                "    u=socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET,socket.SOCK_DGRAM); u.settimeout(2)\n"
                "    u.sendto(b'q',(host,5353)); ok&=u.recvfrom(10)[0]==b'q'\n"
                "print('ok' if ok else 'bad')\n"
            )
            result = self.in_ns(self.server, sys.executable, "-c", code, check=False)
            return result.stdout.strip() == "ok"
        finally:
            listener.kill()
            listener.communicate()


def available() -> str:
    """'' when namespaces can be made here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (the test set-up installs it: see .ci/run and Makefile)"
    return ""


def _wait_until_connected(client: str, seconds: float = 10.0) -> None:
    """IPv6 on a fresh veth needs a moment (link up, neighbour discovery) before it carries traffic."""
    deadline = time.monotonic() + seconds
    for address, flag in ((SERVER4, "-4"), (SERVER6, "-6")):
        while True:
            ping = _run("ip", "netns", "exec", client, "ping", flag, "-c", "1", "-W", "1", address, check=False)
            if ping.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise LabUnavailable(f"no connectivity to {address} in the test network: {ping.stdout[-200:]}")
            time.sleep(0.1)


@contextmanager
def lab() -> Iterator[Lab]:
    """Create the two namespaces and the veth pair; remove everything afterwards."""
    reason = available()
    if reason:
        raise LabUnavailable(reason)
    suffix = f"{os.getpid()}-{int(time.time() * 1000) % 100000}"
    client, server = f"apc-{suffix}", f"aps-{suffix}"
    veth_c, veth_s = f"vc{suffix}"[:15], f"vs{suffix}"[:15]
    created = []
    try:
        for ns in (client, server):
            result = _run("ip", "netns", "add", ns, check=False)
            if result.returncode:
                raise LabUnavailable(f"the kernel refuses network namespaces: {result.stderr.strip()}")
            created.append(ns)
        _run("ip", "link", "add", veth_c, "netns", client, "type", "veth", "peer", "name", veth_s, "netns", server)
        for ns, dev, v4, v6 in ((client, veth_c, CLIENT4, CLIENT6), (server, veth_s, SERVER4, SERVER6)):
            _run("ip", "-n", ns, "link", "set", "lo", "up")
            _run("ip", "-n", ns, "addr", "add", f"{v4}/24", "dev", dev)
            _run("ip", "-n", ns, "addr", "add", f"{v6}/64", "dev", dev, "nodad")
            _run("ip", "-n", ns, "link", "set", dev, "up")
        _wait_until_connected(client)
        yield Lab(client, server)
    finally:
        for ns in created:
            _run("ip", "netns", "del", ns, check=False)
