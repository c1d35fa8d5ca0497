"""Traffic readers for firewall logs: iptables/nftables LOG lines (syslog, kern.log, journalctl) and nfdump CSV."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyport.query.kb import KnowledgeBase
from anyport.traffic.annotate import annotate_files
from anyport.traffic.readers import Flow, ReadStats, detect_format, read_flows

MAC = "MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00"
SYSLOG = [
    "Nov 26 03:29:58 gw systemd[1]: Started Session 42 of user root.",
    f"Nov 26 03:30:00 gw kernel: [12345.678901] [UFW BLOCK] IN=eth0 OUT= {MAC} SRC=198.51.100.7 DST=192.0.2.10 "
    "LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=54321 DF PROTO=TCP SPT=51234 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0 ",
    "Nov 26 03:30:01 gw sshd[991]: Connection closed by 198.51.100.7 port 51234 [preauth]",
    f"Nov 26 03:30:02 gw kernel: [12346.000001] [UFW ALLOW] IN=eth0 OUT= {MAC} SRC=198.51.100.8 DST=192.0.2.10 "
    "LEN=52 TOS=0x00 PREC=0x00 TTL=60 ID=1 DF PROTO=TCP SPT=443 DPT=40022 WINDOW=501 RES=0x00 ACK SYN URGP=0 ",
    f"Nov 26 03:30:03 gw kernel: [12346.5] nft-drop: IN=eth0 OUT= {MAC} SRC=203.0.113.5 DST=192.0.2.10 LEN=76 "
    "TOS=0x00 PREC=0x00 TTL=55 ID=0 PROTO=UDP SPT=123 DPT=123 LEN=56 ",
    "Nov 26 03:30:04 gw kernel: [12347.1] [UFW BLOCK] IN=eth0 OUT= MAC=01:00:5e:00:00:01 SRC=192.0.2.1 "
    "DST=224.0.0.1 LEN=36 TOS=0x00 PREC=0xC0 TTL=1 ID=0 DF PROTO=2 ",
    "Nov 26 03:30:05 gw kernel: [12348.2] IN=eth0 OUT= SRC=198.51.100.9 DST=192.0.2.10 LEN=84 TOS=0x00 PREC=0x00 "
    "TTL=63 ID=1 PROTO=ICMP TYPE=3 CODE=3 [SRC=192.0.2.10 DST=198.51.100.9 LEN=56 TOS=0x00 PREC=0x00 TTL=64 "
    "ID=7 PROTO=UDP SPT=33434 DPT=33435 LEN=36 ] ",
    "Nov 26 03:30:06 gw kernel: [12349.0] [UFW BLOCK] IN=eth0 OUT= SRC=198.51.100.7 DST=",  # truncated: bad
    "Nov 26 03:30:07 gw kernel: [12349.1] DROP IN=eth0 OUT= SRC=198.51.100.7 DST=192.0.2.10 LEN=60 PROTO=TCP "
    "SPT=70000 DPT=22 SYN ",  # bad port
    "Nov 26 03:30:08 gw CRON[1234]: (root) CMD (run-parts /etc/cron.hourly)",
    "",
    "random garbage === with equals signs",
]
JOURNAL = [
    "-- Journal begins at Mon 2026-11-23 09:00:00 UTC, ends at Thu 2026-11-26 03:31:00 UTC. --",
    "Nov 26 03:31:00 gw kernel: [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:86:dd "
    "SRC=2001:0db8:0000:0000:0000:0000:0000:0007 DST=2001:0db8:0000:0000:0000:0000:0000:0010 LEN=80 TC=0 "
    "HOPLIMIT=57 FLOWLBL=123456 PROTO=TCP SPT=40000 DPT=22 WINDOW=64800 RES=0x00 SYN URGP=0 ",
    "2026-11-26T03:31:01+0000 gw kernel: nft-in-drop:IN=eth0 OUT= SRC=2001:db8::7 DST=2001:db8::10 LEN=104 TC=0 "
    "HOPLIMIT=64 FLOWLBL=0 PROTO=ICMPv6 TYPE=128 CODE=0 ID=4 SEQ=1 ",
    "2026-11-26T03:31:02+0000 gw kernel: REJECT IN=eth0 OUT= SRC=198.51.100.7 DST=192.0.2.10 LEN=64 PROTO=47 ",
    "2026-11-26T03:31:03+0000 gw kernel: [UFW AUDIT] IN=eth0 OUT= DST=192.0.2.10 LEN=64 PROTO=TCP ",  # no SRC
    "2026-11-26T03:31:04+0000 gw NetworkManager[700]: <info>  [1764127864.0] device (eth0): state change",
]
NFDUMP = [
    "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln,"
    "ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr",
]
NFDUMP_TAIL = ",0,0,0,0,0,0,0,0,0,0,0.0.0.0,0.0.0.0,0,0"  # opkt .. dvln
NFDUMP_TAIL += ",00:00:00:00:00:00" * 4 + ",0-0-0" * 10 + ",0.000" * 3 + ",0.0.0.0,0/0,1,1970-01-01 00:00:00.000"


def nfdump_row(sa: str, da: str, sp: str, dp: str, pr: str, ipkt: int, ibyt: int) -> str:
    head = f"2026-11-26 03:30:00,2026-11-26 03:30:05,5.000,{sa},{da},{sp},{dp},{pr},.AP.SF,0,0,{ipkt},{ibyt}"
    row = head + NFDUMP_TAIL
    assert row.count(",") == NFDUMP[0].count(","), row
    return row


NFDUMP += [
    nfdump_row("198.51.100.7", "192.0.2.10", "51234", "22", "TCP", 12, 3456),
    nfdump_row("192.0.2.10", "198.51.100.53", "40001", "53", "UDP", 1, 64),
    nfdump_row("2001:db8::7", "2001:db8::10", "0", "8.0", "ICMP6", 1, 104),
    nfdump_row("192.0.2.10", "198.51.100.80", "x", "80", "TCP", 1, 60),  # bad port
    "2026-11-26 03:30:00,2026-11-26 03:30:05,5.000,192.0.2.1",  # short row
    "Summary",
    "flows,bytes,packets,avg_bps,avg_pps,avg_bpp",
    "4,3684,15,5894,3,245",
    "Time window: 2026-11-26 03:30:00 - 2026-11-26 03:30:05",
    "Total flows processed: 4, Blocks skipped: 0, Bytes read: 1234",
    "Sys: 0.001s flows/second: 4000.0 Wall: 0.001s flows/second: 4000.0",
]


def write(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def read_all(path: str) -> tuple[list[Flow], ReadStats]:
    stats = ReadStats(path)
    flows = list(read_flows(path, None, stats))
    assert stats.lines == stats.records + stats.bad + stats.skipped
    assert stats.records == len(flows)
    return flows, stats


def test_detect_formats() -> None:
    assert detect_format("\n".join(SYSLOG).encode()) == "netfilter"
    assert detect_format("\n".join(JOURNAL).encode()) == "netfilter"
    assert detect_format("\n".join(SYSLOG[1:2]).encode()) == "netfilter"
    assert detect_format("\n".join(NFDUMP).encode()) == "nfdump"
    # the old formats are unchanged
    assert detect_format(b"#separator \\x09\n#fields\tts\n") == "zeek"
    assert detect_format(b'{"ts": 1}\n') == "zeek-json"
    assert detect_format(b"src,dst,dport\n1.2.3.4,5.6.7.8,80\n") == "csv"
    assert detect_format(b"sa,da,sp,dp,pr\n1.2.3.4,5.6.7.8,1,80,TCP\n") == "csv"


def test_syslog_log_lines(tmp_path: Path) -> None:
    flows, stats = read_all(write(tmp_path / "kern.log", SYSLOG))
    assert stats.format == "netfilter"
    assert (stats.lines, stats.records, stats.bad, stats.skipped) == (12, 5, 2, 5)
    assert [n for n, _ in stats.examples] == [8, 9]
    assert "SRC" not in stats.examples[0][1] or "DST" in stats.examples[0][1]
    assert "70000" in stats.examples[1][1]
    ssh, synack, ntp, igmp, icmp = flows
    assert (ssh.orig_h, ssh.orig_p, ssh.resp_h, ssh.resp_p, ssh.proto) == (
        "198.51.100.7",
        51234,
        "192.0.2.10",
        22,
        "tcp",
    )
    assert ssh.responder_known
    assert ssh.bytes == 60
    assert ssh.line == 2
    assert ssh.fields["log_prefix"] == "UFW BLOCK"
    assert ssh.fields["action"] == "block"
    assert ssh.fields["ts"] == "Nov 26 03:30:00"
    assert ssh.fields["host"] == "gw"
    assert ssh.fields["in"] == "eth0"
    assert ssh.fields["out"] == ""
    assert "SYN" in str(ssh.fields["flags"])
    assert "DF" in str(ssh.fields["flags"])
    assert not synack.responder_known
    assert synack.fields["action"] == "allow"
    assert (ntp.proto, ntp.orig_p, ntp.resp_p, ntp.responder_known) == ("udp", 123, 123, False)
    assert ntp.fields["log_prefix"] == "nft-drop"
    assert ntp.fields["action"] == "drop"
    assert ntp.bytes == 76  # the IP length, not the UDP one after it
    assert (igmp.proto, igmp.orig_p, igmp.resp_p) == ("2", None, None)
    # an ICMP error's embedded packet does not override the outer one
    assert (icmp.proto, icmp.orig_h, icmp.resp_h, icmp.resp_p) == ("icmp", "198.51.100.9", "192.0.2.10", None)
    assert icmp.fields["log_prefix"] == ""
    assert icmp.fields["action"] == ""


def test_journalctl_ipv6(tmp_path: Path) -> None:
    flows, stats = read_all(write(tmp_path / "journal.txt", JOURNAL))
    assert stats.format == "netfilter"
    assert (stats.lines, stats.records, stats.bad, stats.skipped) == (6, 3, 1, 2)
    assert stats.examples[0][0] == 5
    assert "SRC" in stats.examples[0][1]
    ssh, ping, gre = flows
    assert ssh.orig_h.startswith("2001:0db8:")
    assert ssh.resp_p == 22
    assert ssh.responder_known
    assert ssh.fields["ts"] == "Nov 26 03:31:00"
    assert ssh.fields["log_prefix"] == "UFW BLOCK"
    assert (ping.proto, ping.resp_h, ping.fields["log_prefix"]) == ("icmpv6", "2001:db8::10", "nft-in-drop")
    assert ping.fields["ts"] == "2026-11-26T03:31:01+0000"
    assert (gre.proto, gre.fields["action"]) == ("47", "reject")


def test_nfdump_csv(tmp_path: Path) -> None:
    flows, stats = read_all(write(tmp_path / "flows.csv", NFDUMP))
    assert stats.format == "nfdump"
    assert (stats.lines, stats.records, stats.bad, stats.skipped) == (12, 3, 2, 7)
    assert [n for n, _ in stats.examples] == [5, 6]
    ssh, dns, ping = flows
    assert (ssh.orig_h, ssh.orig_p, ssh.resp_h, ssh.resp_p, ssh.proto) == (
        "198.51.100.7",
        51234,
        "192.0.2.10",
        22,
        "tcp",
    )
    assert ssh.bytes == 3456
    assert ssh.fields["ipkt"] == "12"
    assert not ssh.responder_known
    assert (dns.proto, dns.resp_p, dns.bytes) == ("udp", 53, 64)
    assert (ping.proto, ping.orig_p, ping.resp_p, ping.orig_h) == ("icmp6", None, None, "2001:db8::7")


def test_annotate_log_files(kb: KnowledgeBase, tmp_path: Path) -> None:
    paths = [write(tmp_path / "kern.log", SYSLOG), write(tmp_path / "journal", JOURNAL)]
    paths.append(write(tmp_path / "nf.csv", NFDUMP))
    out = tmp_path / "out.jsonl"
    stats = annotate_files(paths, str(out), "jsonl", kb=kb)
    assert stats.rows == 11
    assert stats.bad == 5
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 11
    first = rows[0]
    assert (first["service"], first["service_port"], first["service_proto"]) == ("ssh", 22, "tcp")
    assert first["log_prefix"] == "UFW BLOCK"
    assert first["action"] == "block"
    assert rows[5]["service"] == "ssh"
    assert rows[5]["service_port"] == 22
    assert rows[1]["service_port"] == 443  # SYN+ACK: the well-known port wins
    assert rows[8]["service"] == "ssh"
    assert rows[9]["service"] == "dns"
    out_csv = tmp_path / "out.csv"
    assert annotate_files(paths[:1], str(out_csv), "csv", kb=kb).rows == 5


LINES = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=120)
LOGGY = st.sampled_from(
    [
        "IN=eth0 OUT= SRC=1.2.3.4",
        "kernel: IN= OUT= SRC= DST= PROTO=",
        "IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8 PROTO=TCP SPT=-1 DPT=99999999999",
        "SRC=a DST=b PROTO=tcp SPT= DPT=0x16 SYN",
        "Nov 26 03:30:00 h kernel: [1.0] [x] IN=lo OUT=lo SRC=::1 DST=::1 PROTO=UDP SPT=1 DPT=2 [SRC=",
        "=",
        "[UFW BLOCK]",
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.lists(st.one_of(LINES, LOGGY, st.builds("".join, st.lists(LOGGY, max_size=4))), max_size=25))
def test_random_lines_never_raise(extra: list[str]) -> None:
    lines = [SYSLOG[1]]
    for text in extra:
        lines.append(text.replace("\n", " ").replace("\r", " "))
        lines.append(SYSLOG[4])
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp) / "mixed.log", lines)
        flows, stats = read_all(path)
    assert stats.format == "netfilter"
    assert stats.lines == len(lines)
    assert stats.records >= 1 + len(extra)
    assert flows[0].resp_p == 22
    assert flows[0].responder_known
