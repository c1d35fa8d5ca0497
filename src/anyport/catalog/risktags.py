"""The risk tags: short, fixed names for what a catalog entry's risk notes warn about.

An entry with ``risks`` (prose) also carries ``risk_tags`` from this list, most important first. Tags are what
annotated flows carry in their ``risk`` column (one short word per concern instead of the whole note on every
row), and what a monitor filters on; the notes stay in the catalog, the lookup answers and the summary report.
``trojan-port`` is also added to a flow whose port has trojan or backdoor history in the trojan list.
"""

from __future__ import annotations

RISK_TAGS: dict[str, str] = {
    "code-execution": "reaching the service can mean running code or commands on the host, by design or through "
    "known flaws",
    "exploited": "named vulnerabilities in it have been exploited in the wild; patch it and restrict who reaches it",
    "wormable": "worms have spread through it (Slammer, Blaster, EternalBlue, Morris, Mirai and others)",
    "no-auth": "no authentication, at all or by default: anyone who reaches it can use it",
    "default-credentials": "ships with, or is often left with, well-known default logins",
    "brute-force": "scanned constantly for weak passwords when exposed",
    "cleartext": "credentials or data cross the network unencrypted",
    "weak-crypto": "its authentication or encryption is weak or obsolete",
    "credential-theft": "password hashes or credentials can be captured or cracked offline",
    "admin-interface": "a management or control interface: keep it on a management network",
    "remote-control": "gives full interactive control of a desktop, device or machine",
    "abused-tool": "a legitimate tool favoured by intruders and scammers: watch for unapproved use",
    "data-exposure": "exposes stored data, files, source code or secrets",
    "info-leak": "discloses users, hosts, configuration or network details",
    "amplification": "abused for reflection and amplification DDoS attacks",
    "relay-abuse": "an open relay or proxy is abused to send spam or traffic through you",
    "spoofing": "unauthenticated messages can be forged or injected (rogue servers, poisoning, route or frame "
    "injection)",
    "firewall-bypass": "opens ports or bypasses filtering behind the administrator's back",
    "wide-range": "needs a wide port range opened, which exposes whatever else listens there",
    "denial-of-service": "anyone who reaches it can stop the service or make it flood others",
    "untrusted-content": "carries content from untrusted peers (malware, polluted or unlicensed files)",
    "trojan-port": "the port is used by trojans, backdoors or worms: unexpected traffic on it deserves a look",
    "shared-port": "other software uses the same port, so naming the service by port alone is unreliable",
}

TROJAN_TAG = "trojan-port"


def flow_risk(tags: list[str] | tuple[str, ...], trojan: bool) -> str:
    """The ``risk`` value of an annotated flow: the service's tags, then ``trojan-port`` for a trojan-history port."""
    chosen = list(dict.fromkeys(tags))
    if trojan and TROJAN_TAG not in chosen:
        chosen.append(TROJAN_TAG)
    return ";".join(chosen)
