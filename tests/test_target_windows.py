"""windows target: every script is read by a strict PowerShell tokenizer and, when installed, tree-sitter-powershell.

PowerShell is not installable on this machine (no ``powershell`` package in Debian's archive), so the checks are
offline: a tokenizer that follows PowerShell's rules for single-quoted strings (five characters count as a single
quote, a doubled one is a literal) and knows no other way to write a value, a grammar of the exact cmdlet and
parameter shapes the target emits, and the semantics of those parameters (ports, addresses, protocols). Text
from the catalog can then only sit inside single-quoted strings or ``#`` comments. tree-sitter's PowerShell
grammar (PyPI ``tree-sitter-powershell``) parses each script as a second, independent reader.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from anyport import api
from anyport.query.kb import KnowledgeBase
from anyport.rules.base import UnsupportedError
from anyport.rules.options import Network, RuleOptions, make_options
from anyport.rules.selection import Selection, select
from anyport.rules.targets.windows import SINGLE_QUOTES, Windows, ps_quote
from test_rules import CASES

GOLDEN = Path(__file__).resolve().parent / "golden" / "rules"
ENUMS = {
    "Direction": {"Inbound", "Outbound"},
    "Action": {"Allow", "Block"},
    "Profile": {"Any"},
    "ErrorAction": {"SilentlyContinue"},
}
STRING_PARAMS = {"Name", "DisplayName", "Group", "Description", "InterfaceAlias"}
LIST_PARAMS = {"LocalPort", "RemotePort", "LocalAddress", "RemoteAddress"}
NEW_RULE_PARAMS = STRING_PARAMS | LIST_PARAMS | {"Direction", "Action", "Profile", "Protocol"}
REQUIRED = {"Name", "DisplayName", "Group", "Direction", "Action", "Protocol", "Profile"}


class PsError(AssertionError):
    pass


@dataclass
class Tok:
    kind: str  # word param string number comma pipe variable equals
    value: str


def tokenize(line: str) -> list[Tok]:
    """The tokens of one line, by PowerShell's rules for the forms we allow; any other character is an error."""
    tokens: list[Tok] = []
    i = 0
    while i < len(line):
        c = line[i]
        if c in " \t":
            i += 1
        elif c in SINGLE_QUOTES:
            value = ""
            i += 1
            while True:
                if i >= len(line):
                    raise PsError(f"unterminated string in {line!r}")
                c = line[i]
                if c in SINGLE_QUOTES:
                    if i + 1 < len(line) and line[i + 1] in SINGLE_QUOTES:
                        value += line[i + 1]  # a doubled quote is one literal quote character
                        i += 2
                        continue
                    i += 1
                    break
                value += c
                i += 1
            tokens.append(Tok("string", value))
        elif c == "-" and i + 1 < len(line) and line[i + 1].isalpha():
            match = re.match(r"-([A-Za-z][A-Za-z0-9]*)", line[i:])
            assert match is not None
            tokens.append(Tok("param", match[1]))
            i += len(match[0])
        elif c.isalpha():
            match = re.match(r"[A-Za-z][A-Za-z0-9-]*", line[i:])
            assert match is not None
            tokens.append(Tok("word", match[0]))
            i += len(match[0])
        elif c.isdigit():
            match = re.match(r"[0-9]+", line[i:])
            assert match is not None
            if i + len(match[0]) < len(line) and line[i + len(match[0])] not in " ,|":
                raise PsError(f"a bare value that is not a number in {line!r}")
            tokens.append(Tok("number", match[0]))
            i += len(match[0])
        elif c == "$":
            match = re.match(r"\$([A-Za-z][A-Za-z0-9]*)", line[i:])
            if match is None:
                raise PsError(f"'$' that is not a plain variable in {line!r}")
            tokens.append(Tok("variable", match[1]))
            i += len(match[0])
        elif c in ",|=":
            tokens.append(Tok({",": "comma", "|": "pipe", "=": "equals"}[c], c))
            i += 1
        else:
            raise PsError(f"character {c!r} outside a string in {line!r}")
    return tokens


@dataclass
class NewRule:
    params: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Script:
    group: str = ""
    rules: list[NewRule] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


def _values(tokens: list[Tok], i: int) -> tuple[list[Tok], int]:
    """One argument: a token, or a comma-separated list of strings."""
    values = [tokens[i]]
    i += 1
    while i < len(tokens) and tokens[i].kind == "comma":
        if i + 1 >= len(tokens) or tokens[i + 1].kind != "string":
            raise PsError("a list item that is not a string")
        values.append(tokens[i + 1])
        i += 2
    return values, i


def _port(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", text)
    if match is None:
        raise PsError(f"port {text!r}")
    start, end = int(match[1]), int(match[2] or match[1])
    if not 1 <= start <= end <= 65535:
        raise PsError(f"port {text!r} out of range")
    return start, end


def _address(text: str) -> None:
    first, dash, last = text.partition("-")
    try:
        if dash:
            a, b = ipaddress.ip_address(first), ipaddress.ip_address(last)
            if a.version != b.version or a > b:
                raise PsError(f"address range {text!r}")
        else:
            ipaddress.ip_network(text, strict=True)
    except ValueError:
        raise PsError(f"address {text!r}") from None


def parse_script(text: str) -> Script:
    """Check every line against the shapes the target emits; return the rules."""
    if not text.isascii():
        raise PsError("the script must be ASCII (Windows PowerShell 5.1 reads it in the ANSI code page)")
    script = Script()
    names: set[str] = set()
    preamble = True
    for line in text.split("\n"):
        if not line:
            continue
        if line.startswith("#"):
            if line.lower().startswith("#requires") and line != "#Requires -RunAsAdministrator":
                raise PsError(f"unexpected #Requires: {line!r}")
            if "\r" in line:
                raise PsError("carriage return in a comment")
            script.comments.append(line)
            continue
        tokens = tokenize(line)
        shape = [t.kind for t in tokens]
        if shape == ["variable", "equals", "string"]:
            if (tokens[0].value, tokens[2].value) != ("ErrorActionPreference", "Stop") or not preamble:
                raise PsError(f"unexpected assignment {line!r}")
            continue
        if tokens[0].kind != "word":
            raise PsError(f"a line must start with a cmdlet: {line!r}")
        if tokens[0].value == "Remove-NetFirewallRule":
            if shape != ["word", "param", "string", "param", "word"] or [tokens[1].value, tokens[3].value] != [
                "Group",
                "ErrorAction",
            ]:
                raise PsError(f"unexpected Remove-NetFirewallRule: {line!r}")
            if tokens[4].value not in ENUMS["ErrorAction"] or script.group:
                raise PsError(f"unexpected Remove-NetFirewallRule: {line!r}")
            script.group = tokens[2].value
            preamble = False
            continue
        if tokens[0].value != "New-NetFirewallRule":
            raise PsError(f"unexpected command {tokens[0].value}")
        if [t.kind for t in tokens[-2:]] != ["pipe", "word"] or tokens[-1].value != "Out-Null":
            raise PsError(f"a rule must end in | Out-Null: {line!r}")
        rule = NewRule()
        i = 1
        while i < len(tokens) - 2:
            if tokens[i].kind != "param" or tokens[i].value not in NEW_RULE_PARAMS:
                raise PsError(f"unexpected {tokens[i].value!r} in {line!r}")
            param = tokens[i].value
            if param in rule.params:
                raise PsError(f"-{param} given twice")
            values, i = _values(tokens, i + 1)
            kinds = {v.kind for v in values}
            if param in STRING_PARAMS and (kinds != {"string"} or len(values) != 1 or not values[0].value):
                raise PsError(f"-{param} takes one non-empty single-quoted string")
            if param in LIST_PARAMS and kinds != {"string"}:
                raise PsError(f"-{param} takes single-quoted strings")
            if param in ENUMS and (kinds != {"word"} or values[0].value not in ENUMS[param]):
                raise PsError(f"-{param} {values[0].value}")
            if param == "Protocol":
                value = values[0]
                if not (
                    (value.kind == "word" and value.value in ("TCP", "UDP"))
                    or (value.kind == "number" and 0 <= int(value.value) <= 255)
                ):
                    raise PsError(f"-Protocol {value.value}")
            rule.params[param] = [v.value for v in values]
        missing = REQUIRED - set(rule.params)
        if missing:
            raise PsError(f"missing {sorted(missing)} in {line!r}")
        for key in ("LocalPort", "RemotePort"):
            for port in rule.params.get(key, []):
                _port(port)
            if key in rule.params and rule.params["Protocol"][0] not in ("TCP", "UDP"):
                raise PsError(f"-{key} needs -Protocol TCP or UDP")
        for key in ("LocalAddress", "RemoteAddress"):
            for address in rule.params.get(key, []):
                _address(address)
        if rule.params["Group"] != [script.group]:
            raise PsError("a rule outside the group removed first: running twice would duplicate it")
        name = rule.params["Name"][0]
        if name in names:
            raise PsError(f"rule name {name} used twice")
        names.add(name)
        script.rules.append(rule)
    if not script.group:
        raise PsError("the script does not remove its group's old rules first")
    return script


def check_with_tree_sitter(text: str) -> None:
    """Parse with tree-sitter-powershell; only the node kinds of plain commands with literal arguments may occur."""
    tree_sitter = pytest.importorskip("tree_sitter", reason="tree-sitter is not installed (pip install tree-sitter)")
    grammar = pytest.importorskip(
        "tree_sitter_powershell", reason="tree-sitter-powershell is not installed (pip install tree-sitter-powershell)"
    )
    parser = tree_sitter.Parser(tree_sitter.Language(grammar.language()))
    tree = parser.parse(text.encode())
    assert not tree.root_node.has_error
    allowed = {
        "program",
        "statement_list",
        "pipeline",
        "pipeline_chain",
        "command",
        "command_name",
        "command_elements",
        "command_argument_sep",
        "command_parameter",
        "array_literal_expression",
        "unary_expression",
        "string_literal",
        "verbatim_string_characters",
        "integer_literal",
        "decimal_integer_literal",
        "generic_token",
        "comment",
        "|",
        ",",
        " ",
        "=",
        # $ErrorActionPreference = 'Stop'
        "assignment_expression",
        "left_assignment_expression",
        "logical_expression",
        "bitwise_expression",
        "comparison_expression",
        "additive_expression",
        "multiplicative_expression",
        "format_expression",
        "range_expression",
        "assignement_operator",
        "variable",
    }
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        assert not node.is_missing
        assert node.type in allowed, f"{node.type}: {node.text!r}"
        raw = (node.text or b"").decode()
        if node.type == "variable":
            assert raw == "$ErrorActionPreference"
        if node.type == "command_name":
            assert raw in ("New-NetFirewallRule", "Remove-NetFirewallRule", "Out-Null")
        if node.type == "string_literal":
            assert raw.startswith("'")
            assert raw.endswith("'")
        if node.type == "comment":
            assert "\n" not in raw
            continue
        if node.type in ("string_literal", "generic_token", "command_parameter"):
            continue
        stack.extend(node.children)
    # Text that exists only in comments and strings: outside them only our own words remain.
    for node_type in ("generic_token",):
        for node in _nodes(tree.root_node, node_type):
            assert (node.text or b"").decode() in {w for values in ENUMS.values() for w in values} | {"TCP", "UDP"}


def _nodes(node, node_type: str):  # type: ignore[no-untyped-def]
    if node.type == node_type:
        yield node
    for child in node.children:
        yield from _nodes(child, node_type)


# ---------------------------------------------------------------------------------------------------------------


def golden_files() -> list[Path]:
    return sorted(p for p in GOLDEN.glob("windows-*.ps1") if not p.name.endswith(".actual"))


def test_golden_files_exist() -> None:
    assert {p.name for p in golden_files()} == {f"windows-{case}.ps1" for case in CASES}


@pytest.mark.parametrize("path", golden_files(), ids=lambda p: p.name)
def test_golden_file_is_a_valid_script(path: Path) -> None:
    text = path.read_text("utf-8")
    script = parse_script(text)
    assert script.rules


@pytest.mark.parametrize("path", golden_files(), ids=lambda p: p.name)
def test_golden_file_parses_with_tree_sitter(path: Path) -> None:
    check_with_tree_sitter(path.read_text("utf-8"))


def _expected(selection: Selection, options: RuleOptions) -> set[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """(protocol, ports, remote+local addresses) the rules must hold, from the selection alone."""
    out = set()
    inbound = options.direction == "in"
    for group in selection.groups(options):
        families = [f for f in ("ipv4", "ipv6") if group.family_wanted(f, options)]
        if not families:
            continue
        remote, local = _wanted(group.sources, families), _wanted(options.dests, families)
        if not inbound:
            remote, local = local, remote
        if len(families) == 1 and not remote and not local:
            remote = [
                "0.0.0.0-255.255.255.255" if families == ["ipv4"] else "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
            ]
        addresses = (*(f"R{a}" for a in remote), *(f"L{a}" for a in local))
        for transport in ("tcp", "udp"):
            ranges = group.merged(transport)
            if ranges:
                out.add((transport.upper(), tuple(str(r) for r in ranges), addresses))
        for number in group.protocol_numbers():
            if {1: "ipv4", 58: "ipv6"}.get(number, families[0]) in families:
                out.add((str(number), (), addresses))
    return out


def _wanted(nets: tuple[Network, ...], families: list[str]) -> list[str]:
    return [
        str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n)
        for n in nets
        if ("ipv4" if n.version == 4 else "ipv6") in families
    ]


def _actual(script: Script, options: RuleOptions) -> set[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    out = set()
    for rule in script.rules:
        p = rule.params
        assert p["Direction"] == ["Inbound" if options.direction == "in" else "Outbound"]
        assert p["Action"] == ["Allow" if options.action == "allow" else "Block"]
        assert p.get("InterfaceAlias", [""]) == [options.interface]
        ports = tuple(p.get("LocalPort" if options.direction == "in" else "RemotePort", []))
        assert ("RemotePort" if options.direction == "in" else "LocalPort") not in p
        addresses = (*(f"R{a}" for a in p.get("RemoteAddress", [])), *(f"L{a}" for a in p.get("LocalAddress", [])))
        out.add((p["Protocol"][0], ports, addresses))
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_rules_say_exactly_what_the_selection_holds(kb_hostile: KnowledgeBase, case: str) -> None:
    services, given = CASES[case]
    options = make_options(best_effort=True, **given)  # type: ignore[arg-type]
    selection = select(kb_hostile, services, options)
    script = parse_script(Windows().generate(selection, options).text)
    assert _actual(script, options) == _expected(selection, options)


def test_hostile_texts_stay_inside_single_quoted_strings(kb_hostile: KnowledgeBase) -> None:
    text = api.rules(["evil-service", "ssh"], target="windows", kb=kb_hostile).text
    script = parse_script(text)  # a token outside a string would have failed here
    described = [r.params["Description"][0] for r in script.rules]
    title = 'Evil "quoted" $(touch /tmp/anyport-pwned) `id` ; DROP TABLE x; \\ back\\slash <script>'
    assert any(title in d for d in described)  # the title arrives whole, as data
    for line in text.splitlines():
        if "pwned" in line and not line.startswith("#"):
            assert line.startswith("New-NetFirewallRule ")


@pytest.mark.parametrize(
    "title",
    [
        "it's a trap'; Remove-Item C:\\ -Recurse; '",
        "typographic \u2018quote\u2019 \u201a and \u201b; Stop-Computer",
        'dollar $(Stop-Computer) and `backtick` and "double" and @(splat) and <# block #>',
        "line\nbreak\rand\u2028separator\u0085next",
        "\u00e9t\u00e9 \u2013 caf\u00e9 \u2026 \u4e2d\u6587",
    ],
)
def test_quoting_survives_every_quote_character(title: str) -> None:
    line = f"New-NetFirewallRule -Name 'x' -DisplayName 'x' -Group 'g' -Description {ps_quote(title)} -Direction Inbound -Action Allow -Profile Any -Protocol 47 | Out-Null"
    script = parse_script("Remove-NetFirewallRule -Group 'g' -ErrorAction SilentlyContinue\n" + line + "\n")
    decoded = script.rules[0].params["Description"][0]
    assert "Stop-Computer" not in "".join(t.value for t in tokenize(line) if t.kind != "string")
    assert decoded.isascii()
    assert "\n" not in decoded
    assert "\r" not in decoded


@pytest.mark.parametrize(
    "title",
    ["it's'; Stop-Computer; '", "typographic \u2018quote\u2019 \u201a\u201b $(Stop-Computer)", "line\nbreak #"],
)
def test_quoted_hostile_text_parses_with_tree_sitter(title: str) -> None:
    check_with_tree_sitter(f"New-NetFirewallRule -Description {ps_quote(title)} -Protocol 47 | Out-Null\n")


def test_the_tokenizer_knows_typographic_quotes_end_strings() -> None:
    # What a naive escaper (doubling only ') would let through: the string ends at U+2019.
    naive = "-Description 'it\u2019; Stop-Computer; \u2019'"
    with pytest.raises(PsError):
        parse_script(
            "Remove-NetFirewallRule -Group 'g' -ErrorAction SilentlyContinue\n"
            f"New-NetFirewallRule -Name 'x' -DisplayName 'x' -Group 'g' {naive} -Direction Inbound "
            "-Action Allow -Profile Any -Protocol 47 | Out-Null\n"
        )
    assert [t.kind for t in tokenize("'a\u2019\u2019b'")] == ["string"]
    assert tokenize("'a\u2019\u2019b'")[0].value == "a\u2019b"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('New-NetFirewallRule -Name "x" | Out-Null', "outside a string"),
        ("New-NetFirewallRule -Name 'x' -Direction Inbound; Stop-Computer | Out-Null", "outside a string"),
        ("Invoke-Expression 'x'", "unexpected command"),
        ("New-NetFirewallRule -Name 'x' -Protocol TCP -LocalPort 22 | Out-Null", "single-quoted strings"),
        (
            "New-NetFirewallRule -Name 'x' -DisplayName 'x' -Group 'anyport' -Direction Inbound -Action Allow "
            "-Profile Any -Protocol 47 -LocalPort '22' | Out-Null",
            "needs -Protocol TCP",
        ),
        (
            "New-NetFirewallRule -Name 'x' -DisplayName 'x' -Group 'anyport' -Direction Inbound -Action Allow "
            "-Profile Any -Protocol TCP -LocalPort '0-70000' | Out-Null",
            "out of range",
        ),
        (
            "New-NetFirewallRule -Name 'x' -DisplayName 'x' -Group 'anyport' -Direction Inbound -Action Allow "
            "-Profile Any -Protocol TCP -RemoteAddress '192.0.2.1/24' | Out-Null",
            "address",
        ),
        (
            "New-NetFirewallRule -Name 'x' -DisplayName 'x' -Group 'other' -Direction Inbound -Action Allow "
            "-Profile Any -Protocol 47 | Out-Null",
            "outside the group",
        ),
        ("New-NetFirewallRule -Name 'x' -Direction Sideways | Out-Null", "Sideways"),
        ("#requires -Modules Evil", "#Requires"),
    ],
)
def test_the_check_rejects_other_shapes(bad: str, message: str) -> None:
    with pytest.raises(PsError, match=message):
        parse_script("Remove-NetFirewallRule -Group 'anyport' -ErrorAction SilentlyContinue\n" + bad + "\n")


def test_block_rules_beat_allow_rules_and_the_header_says_so(kb: KnowledgeBase) -> None:
    deny = api.rules(["ssh"], target="windows", action="deny", kb=kb).text
    allow = api.rules(["ssh"], target="windows", kb=kb).text
    assert "block rules before allow rules" in deny
    assert "block rules before allow rules" not in allow
    assert "-Action Block" in deny
    assert "-Action Block" not in allow
    assert "WARNING" not in deny  # one port: nothing broad


def test_broad_blocks_carry_a_warning_in_the_header_and_above_the_rule(kb: KnowledgeBase) -> None:
    text = api.rules(
        ["netmeeting", "ip:6", "ip:58"], target="windows", action="deny", include_dynamic=True, best_effort=True, kb=kb
    ).text
    parse_script(text)
    lines = text.splitlines()
    warnings = [line for line in lines if line.startswith("# WARNING")]
    assert any("TCP ports" in w and "shadows every allow rule" in w for w in warnings)
    assert any("all of IP protocol 6" in w for w in warnings)
    assert any("ICMPv6" in w and "neighbour discovery" in w for w in warnings)
    for index, line in enumerate(lines):
        if line.startswith("New-NetFirewallRule") and ("'1024-65535'" in line or "-Protocol 6 " in line):
            assert lines[index - 1].startswith("# WARNING"), line
    header_end = lines.index("#Requires -RunAsAdministrator")
    assert len([w for w in lines[:header_end] if w.startswith("# WARNING")]) >= 3
    wide_allow = api.rules(["netmeeting"], target="windows", include_dynamic=True, best_effort=True, kb=kb).text
    assert "WARNING" not in wide_allow


def test_unsupported_features_are_named_in_strict_mode(kb: KnowledgeBase) -> None:
    with pytest.raises(UnsupportedError) as excinfo:
        api.rules(["ftp", "sip"], target="windows", action="deny", reject=True, kb=kb)
    items = excinfo.value.items
    assert "sctp ports 5060 (sip)" in items
    assert any(i.startswith("reject inbound") for i in items)
    assert sum(i.startswith("conntrack helper") for i in items) == 3
    assert len(items) == 5
    # Outbound, a blocked connection fails at once in the program: that is a reject, nothing to report.
    out = api.rules(["ssh"], target="windows", direction="out", action="deny", reject=True, kb=kb)
    assert out.unsupported == []
    assert "fails at once" in out.text


def test_one_family_without_addresses_is_restricted_by_an_address_range(kb: KnowledgeBase) -> None:
    v6 = parse_script(api.rules(["ssh"], target="windows", ipv6_only=True, kb=kb).text)
    assert v6.rules[0].params["RemoteAddress"] == ["::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]
    both = parse_script(api.rules(["ssh"], target="windows", kb=kb).text)
    assert "RemoteAddress" not in both.rules[0].params


def test_running_twice_replaces_the_group(kb: KnowledgeBase) -> None:
    text = api.rules(["ssh", "dns"], target="windows", kb=kb).text
    code = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert code[0] == "$ErrorActionPreference = 'Stop'"
    assert code[1] == "Remove-NetFirewallRule -Group 'anyport' -ErrorAction SilentlyContinue"
    assert all(line.startswith("New-NetFirewallRule") for line in code[2:])


@pytest.mark.parametrize(
    "bad",
    [
        'New-NetFirewallRule -Description "$(Stop-Computer)" | Out-Null\n',
        "New-NetFirewallRule -Description 'a' ; Stop-Computer\n",
        "New-NetFirewallRule -Description ('a' + $x) | Out-Null\n",
        "Invoke-Expression 'Stop-Computer'\n",
    ],
)
def test_the_tree_sitter_check_can_fail(bad: str) -> None:
    with pytest.raises(AssertionError):
        check_with_tree_sitter(bad)


def test_icmp_of_the_other_family_gets_no_rule(kb: KnowledgeBase) -> None:
    text = api.rules(["ip:1", "ip:58", "ip:47"], target="windows", ipv6_only=True, kb=kb).text
    protocols = {r.params["Protocol"][0] for r in parse_script(text).rules}
    assert protocols == {"58", "47"}
    assert "IP protocol 1 belongs to the other address family" in text
