"""The JSON API under /api/v1: contracts, the one error shape, security headers, hostile and malformed input.

Every request goes through FastAPI's TestClient (in process, no network). Answers are compared with what the
library (and so the CLI's --json) gives for the same question, and validated against the app's own OpenAPI
document, whose schemas forbid unknown fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
jsonschema = pytest.importorskip("jsonschema")

from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from anyport.errors import DataError  # noqa: E402
from anyport.query.kb import KnowledgeBase  # noqa: E402
from anyport.web import app as web_app  # noqa: E402
from anyport.web.app import MAX_QUERY, MAX_URL, ResponseCache, create_app  # noqa: E402
from anyport.web.errors import ERROR_TYPES  # noqa: E402
from conftest import run_cli  # noqa: E402

HOSTILE = Path(__file__).resolve().parent / "data" / "hostile.yaml"
HOSTILE_TITLE = (
    'Evil "quoted" $(touch /tmp/anyport-pwned) `id` ; DROP TABLE x; \\ back\\slash <script>alert(1)</script> & '
    "${HOME} %s"
)
API = "/api/v1"
CONTRACT_FIELDS = [  # docs/json.md, in this order; the extras follow
    "name",
    "title",
    "aliases",
    "transport",
    "ports",
    "match",
    "source",
    "confidence",
    "categories",
    "description",
    "risks",
]
EXTRA_FIELDS = ["risk_tags", "why", "status", "allocation", "role", "direction", "iana", "note", "span"]
WRITE_METHODS = ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"]


@pytest.fixture(scope="module")
def app(kb: KnowledgeBase) -> FastAPI:
    return create_app(kb)


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


def conforms(document: dict[str, Any], path: str, status: int, body: Any) -> None:
    """``body`` is valid against the schema the document gives for ``path`` (as templated) and ``status``."""
    schema = document["paths"][path]["get"]["responses"][str(status)]["content"]["application/json"]["schema"]
    jsonschema.validate(body, {**schema, "components": document["components"]})


def assert_secure_headers(response: Any) -> None:
    csp = response.headers["content-security-policy"]
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    assert directives["script-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


def assert_no_trace(text: str) -> None:
    for marker in ("Traceback", 'File "', "site-packages", "line ", ".py"):
        assert marker not in text, f"{marker!r} in a response"


def assert_error(response: Any, status: int, kind: str) -> dict[str, Any]:
    """The one error shape, exactly, with the security headers and no stack trace."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert list(body) == ["error"]
    assert list(body["error"]) == ["status", "type", "message"]
    assert body["error"]["status"] == status
    assert body["error"]["type"] == kind
    assert kind in ERROR_TYPES
    message = body["error"]["message"]
    assert isinstance(message, str)
    assert message
    assert "\n" not in message
    assert_secure_headers(response)
    assert_no_trace(response.text)
    return body


# --- happy paths and contracts ----------------------------------------------------------------------------------


def test_lookup_is_the_cli_json_contract(client: TestClient, document: dict[str, Any]) -> None:
    response = client.get(f"{API}/lookup", params={"q": "443"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    cli = run_cli("lookup", "443", "--json")
    assert cli.returncode == 0, cli.stderr
    assert body == json.loads(cli.stdout)
    assert list(body) == ["query", "kind", "matches", "context"]
    assert body["query"] == "443"
    assert body["kind"] == "port"
    assert body["matches"][0]["name"] == "https"
    for match in body["matches"]:
        assert list(match) == CONTRACT_FIELDS + EXTRA_FIELDS
        assert 0 <= match["confidence"] <= 1
    confidences = [m["confidence"] for m in body["matches"]]
    assert confidences == sorted(confidences, reverse=True)
    assert any("system (well-known) port" in line for line in body["context"])
    conforms(document, f"{API}/lookup", 200, body)


@pytest.mark.parametrize(
    ("query", "kind", "first"),
    [
        ("3389/tcp", "port", "rdp"),
        ("6000-6010/udp", "range", None),
        ("ip:47", "ip", "gre"),
        ("gre", "ip", "gre"),
        ("ssh", "name", "ssh"),
        ("_ipp._tcp", "dnssd", "ipp"),
        ("bittorrent", "name", "bittorrent"),
    ],
)
def test_lookup_kinds(
    client: TestClient, document: dict[str, Any], kb: KnowledgeBase, query: str, kind: str, first: str | None
) -> None:
    from anyport.query.lookup import lookup

    response = client.get(f"{API}/lookup", params={"q": query})
    assert response.status_code == 200
    body = response.json()
    assert body == lookup(kb, query).to_dict()
    assert body["kind"] == kind
    if first:
        assert body["matches"][0]["name"] == first
    conforms(document, f"{API}/lookup", 200, body)


def test_lookup_of_an_unknown_name_is_an_empty_answer(client: TestClient) -> None:
    body = client.get(f"{API}/lookup", params={"q": "nosuchservicequitesurely"}).json()
    assert body["matches"] == []
    assert body["context"]


def test_service(client: TestClient, document: dict[str, Any], kb: KnowledgeBase) -> None:
    from anyport.query.service import service_info

    response = client.get(f"{API}/service/pptp")
    assert response.status_code == 200
    body = response.json()
    assert body == service_info(kb, "pptp").to_dict()
    assert body["id"] == "pptp"
    assert {(r["service"], r.get("ip")) for r in body["resolved"]} >= {("gre", 47)}
    assert any("conntrack helper" in w for w in body["warnings"])
    assert body["referenced"] == ["gre"]
    conforms(document, f"{API}/service/{{name}}", 200, body)


@pytest.mark.parametrize("name", ["sip", "ftp", "bittorrent", "wireguard", "mdns", "Secure Shell"])
def test_service_answers_conform(client: TestClient, document: dict[str, Any], name: str) -> None:
    response = client.get(f"{API}/service/{name}")
    assert response.status_code == 200
    conforms(document, f"{API}/service/{{name}}", 200, response.json())


def test_search(client: TestClient, document: dict[str, Any], kb: KnowledgeBase) -> None:
    from anyport.query.search import search

    body = client.get(f"{API}/search", params={"q": "instant messaging"}).json()
    assert body == search(kb, "instant messaging").to_dict()
    assert len(body["results"]) == 20
    conforms(document, f"{API}/search", 200, body)

    typo = client.get(f"{API}/search", params={"q": "bittorent"}).json()
    assert typo["corrections"] == {"bittorent": "bittorrent"}
    assert typo["results"][0]["name"] == "bittorrent"

    params = [("q", "voice"), ("category", "voip"), ("category", "chat"), ("transport", "udp"), ("limit", "3")]
    filtered = client.get(f"{API}/search", params=params).json()
    expected = search(kb, "voice", categories=["voip", "chat"], transport="udp", limit=3).to_dict()
    assert filtered == expected
    assert 0 < len(filtered["results"]) <= 3
    conforms(document, f"{API}/search", 200, filtered)


def test_categories(client: TestClient, document: dict[str, Any], kb: KnowledgeBase) -> None:
    from anyport.query.search import categories

    body = client.get(f"{API}/categories").json()
    assert body == [{"category": c, "services": n} for c, n in categories(kb)]
    assert {"category": "vpn", "services": dict(categories(kb))["vpn"]} in body
    conforms(document, f"{API}/categories", 200, body)


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_portmap(client: TestClient, document: dict[str, Any], kb: KnowledgeBase, transport: str) -> None:
    from anyport.web.portmap import port_map

    body = client.get(f"{API}/portmap/{transport}").json()
    assert body == port_map(kb, transport)
    assert len(body["codes"]) == 65536
    assert set(body["codes"]) <= set(body["legend"])
    assert body["codes"][53] == "c"  # DNS
    conforms(document, f"{API}/portmap/{{transport}}", 200, body)


def test_health(client: TestClient, document: dict[str, Any], kb: KnowledgeBase) -> None:
    from anyport import __version__

    body = client.get(f"{API}/health").json()
    assert body["status"] == "ok"
    assert body["version"] == __version__
    assert body["services"] == int(kb.meta()["services"]) > 500
    assert body["iana_records"] > 10000
    assert re.fullmatch(r"[0-9a-f]{24}", body["index"])
    conforms(document, f"{API}/health", 200, body)


def test_rules(client: TestClient, document: dict[str, Any], kb: KnowledgeBase) -> None:
    from anyport.api import rules

    params = [("service", "ssh"), ("service", "tcp/8443"), ("source", "192.0.2.0/24"), ("target", "iptables")]
    response = client.get(f"{API}/rules", params=params)
    assert response.status_code == 200
    body = response.json()
    output = rules(["ssh", "tcp/8443"], target="iptables", sources=["192.0.2.0/24"], kb=kb)
    assert body == {"target": "iptables", "files": output.files, "unsupported": []}
    assert set(body["files"]) == {".v4", ".v6"}  # an IPv4 source: IPv6 gets its file too, with nothing allowed
    assert "192.0.2.0/24" in body["files"][".v4"]
    assert "--dport 22" not in body["files"][".v6"]
    assert ":INPUT DROP" in body["files"][".v6"]
    conforms(document, f"{API}/rules", 200, body)

    default = client.get(f"{API}/rules", params={"service": "ssh"}).json()
    assert default["target"] == "nftables"
    assert default["files"][""] == rules(["ssh"], kb=kb).files[""]


def test_rules_a_platform_cannot_express(client: TestClient, document: dict[str, Any]) -> None:
    refused = client.get(f"{API}/rules", params={"service": "pptp", "target": "kubernetes"})
    body = assert_error(refused, 422, "cannot_express")
    assert "IP protocol 47" in body["error"]["message"]
    best = client.get(f"{API}/rules", params={"service": "pptp", "target": "kubernetes", "best_effort": "true"})
    assert best.status_code == 200
    assert any("47" in item for item in best.json()["unsupported"])
    conforms(document, f"{API}/rules", 200, best.json())


def test_head_is_get_without_a_body(client: TestClient) -> None:
    url = f"{API}/lookup?q=22"
    head = client.head(url)  # first: it must not leave an empty answer in the cache
    assert head.status_code == 200
    assert head.content == b""
    get = client.get(url)
    assert get.status_code == 200
    assert int(head.headers["content-length"]) == len(get.content) > 1000
    assert client.head(url).content == b""
    assert_secure_headers(head)


def test_the_same_url_gets_the_same_bytes(client: TestClient) -> None:
    first = client.get(f"{API}/lookup?q=6881")
    again = client.get(f"{API}/lookup?q=6881")  # from the answer cache
    encoded = client.get(f"{API}/lookup?q=%36%38%38%31")  # another URL, the same question
    assert first.content == again.content == encoded.content
    assert {k: v for k, v in first.headers.items() if k != "date"} == {
        k: v for k, v in again.headers.items() if k != "date"
    }


def test_a_new_thread_gets_its_own_index_connection(kb: KnowledgeBase) -> None:
    """Without ``with``, TestClient runs each request in a new thread (sqlite connections are per thread)."""
    test_client = TestClient(create_app(kb))
    for query in ("80", "25/tcp", "ip:50"):
        assert test_client.get(f"{API}/lookup", params={"q": query}).status_code == 200


def test_answer_cache_keeps_whole_streamed_answers(kb: KnowledgeBase) -> None:
    calls = []

    async def streaming(scope: Any, receive: Any, send: Any) -> None:
        calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"a":', "more_body": True})
        await send({"type": "http.response.body", "body": b"1}"})

    test_client = TestClient(web_app.Guard(streaming, create_app(kb)))
    first = test_client.get("/api/stream")
    again = test_client.get("/api/stream")
    assert first.content == again.content == b'{"a":1}'
    assert calls == ["/api/stream"]  # the second answer came from the cache, whole
    assert_secure_headers(again)


def test_response_cache_is_bounded() -> None:
    cache = ResponseCache(max_bytes=800, max_entries=3)
    for n in range(5):
        cache.put(n, b"x" * 10, 10)
    assert list(cache.items) == [2, 3, 4]
    cache.get(2)
    cache.put(5, b"y", 1)
    assert list(cache.items) == [4, 2, 5]
    cache.put("huge", b"z" * 200, 200)  # more than an eighth of the budget: not kept
    assert cache.get("huge") is None
    for n in range(3):
        cache.put(("big", n), b"b" * 90, 90)
    assert cache.size <= 800


# --- the OpenAPI document ---------------------------------------------------------------------------------------


def test_document_describes_every_endpoint_and_error(document: dict[str, Any]) -> None:
    models = {
        "/lookup": "LookupResponse",
        "/service/{name}": "ServiceResponse",
        "/search": "SearchResponse",
        "/categories": None,
        "/portmap/{transport}": "PortMap",
        "/health": "Health",
        "/rules": "RulesResponse",
        "/conflicts": "ConflictsResponse",
    }
    assert set(document["paths"]) == {API + path for path in models}
    for path, model in models.items():
        operation = document["paths"][API + path]
        assert list(operation) == ["get"]
        responses = operation["get"]["responses"]
        schema = responses["200"]["content"]["application/json"]["schema"]
        if model:
            assert schema == {"$ref": f"#/components/schemas/{model}"}
        else:
            assert schema["items"] == {"$ref": "#/components/schemas/Category"}
        for status in ("400", "405", "414", "422", "500"):
            error = responses[status]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorBody"}, (path, status)
    assert "404" in document["paths"][f"{API}/service/{{name}}"]["get"]["responses"]
    assert "404" in document["paths"][f"{API}/rules"]["get"]["responses"]
    detail = document["components"]["schemas"]["ErrorDetail"]
    assert detail["properties"]["type"]["enum"] == list(ERROR_TYPES)
    assert detail["additionalProperties"] is False
    assert "HTTPValidationError" not in document["components"]["schemas"]  # FastAPI's own 422 shape is not used


def test_document_schemas_forbid_unknown_fields(document: dict[str, Any]) -> None:
    for name, schema in document["components"]["schemas"].items():
        assert schema.get("additionalProperties") is False, name


# --- the one error shape ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "status", "kind"),
    [
        (f"{API}/lookup?q=70000", 400, "bad_query"),
        (f"{API}/lookup?q=a%00b", 400, "bad_query"),
        (f"{API}/lookup?q=%20", 400, "bad_query"),
        (f"{API}/search?q=x&category=bogus", 400, "bad_query"),
        (f"{API}/rules?service=ssh&source=notanet", 400, "bad_query"),
        (f"{API}/lookup?q=%ff", 400, "bad_request"),
        (f"{API}/service/%C3%28", 400, "bad_request"),
        (f"{API}/service/nosuchservice", 404, "not_found"),
        (f"{API}/rules?service=nosuchservice", 404, "not_found"),
        (f"{API}/nope", 404, "not_found"),
        (f"{API}/lookup/443", 404, "not_found"),
        ("/api/v2/lookup?q=443", 404, "not_found"),
        ("/api", 404, "not_found"),
        (f"{API}/service/..%2f..%2fetc%2fpasswd", 404, "not_found"),
        (f"{API}/lookup", 422, "invalid_parameter"),
        (f"{API}/lookup?q=", 422, "invalid_parameter"),
        (f"{API}/search?q=x&limit=0", 422, "invalid_parameter"),
        (f"{API}/search?q=x&limit=many", 422, "invalid_parameter"),
        (f"{API}/portmap/sctp", 422, "invalid_parameter"),
        (f"{API}/rules", 422, "invalid_parameter"),
        (f"{API}/rules?service=ssh&target=bogus", 422, "invalid_parameter"),
        (f"{API}/rules?service=ssh&direction=sideways", 422, "invalid_parameter"),
        (f"{API}/rules?service=pptp&target=kubernetes", 422, "cannot_express"),
    ],
)
def test_error_shape(client: TestClient, document: dict[str, Any], url: str, status: int, kind: str) -> None:
    body = assert_error(client.get(url), status, kind)
    template = next(
        (p for p in document["paths"] if re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", p), url.split("?")[0])), ""
    )
    if template:
        conforms(document, template, status, body)


def test_not_found_suggests_names(client: TestClient) -> None:
    body = assert_error(client.get(f"{API}/service/bittorent"), 404, "not_found")
    assert "bittorrent" in body["error"]["message"]


@pytest.mark.parametrize("method", WRITE_METHODS)
@pytest.mark.parametrize(
    "path", [f"{API}/lookup?q=443", f"{API}/service/pptp", f"{API}/rules?service=ssh", f"{API}/nope"]
)
def test_read_only_api(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, content=b'{"q": "443"}')
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize("method", WRITE_METHODS)
@pytest.mark.parametrize("path", ["/", "/static/style.css", "/no/such/page"])
def test_read_only_everywhere(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert_secure_headers(response)
    assert_no_trace(response.text)


def test_internal_error_has_no_stack_trace(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    import anyport.query.lookup

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret detail from /etc/anyport/internal.py line 42")

    monkeypatch.setattr(anyport.query.lookup, "lookup", broken)
    with TestClient(create_app(kb), raise_server_exceptions=False) as test_client:
        response = test_client.get(f"{API}/lookup", params={"q": "443"})
        body = assert_error(response, 500, "internal_error")
        assert "secret" not in response.text
        assert "RuntimeError" not in response.text
        assert body["error"]["message"] == "internal error; the request was not answered"
        monkeypatch.undo()
        assert test_client.get(f"{API}/lookup", params={"q": "443"}).status_code == 200  # errors are not cached


def test_data_error_is_a_500_in_the_error_shape(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    import anyport.query.search

    def broken(*args: object, **kwargs: object) -> None:
        raise DataError("the index is unreadable")

    monkeypatch.setattr(anyport.query.search, "categories", broken)
    with TestClient(create_app(kb), raise_server_exceptions=False) as test_client:
        assert_error(test_client.get(f"{API}/categories"), 500, "data_error")


# --- headers ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"{API}/lookup?q=443",
        f"{API}/openapi.json",
        f"{API}/health",
        f"{API}/nope",
        f"{API}/lookup?q=70000",
        "/",
        "/static/style.css",
        "/static/app.js",
        "/static/nope.css",
        "/no/such/page",
    ],
)
def test_security_headers_on_every_response(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert_secure_headers(response)


def test_static_files_keep_their_types(client: TestClient) -> None:
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
    assert "javascript" in client.get("/static/app.js").headers["content-type"]


# --- oversized and malformed queries ----------------------------------------------------------------------------


def test_ten_kilobyte_query_is_refused(client: TestClient) -> None:
    for url in (f"{API}/lookup?q={'1' * 10_000}", f"{API}/service/{'a' * 10_000}", f"/?q={'x' * 10_000}"):
        response = client.get(url)
        assert response.status_code == 414
        assert_secure_headers(response)
        if url.startswith(API):
            assert_error(response, 414, "uri_too_long")


def test_url_limit_is_exact(client: TestClient) -> None:
    prefix = f"{API}/lookup?q="
    room = MAX_URL - len(prefix) + 1  # path and query string, without the "?"
    assert_error(client.get(prefix + "1" * room), 422, "invalid_parameter")  # too long a query, not a URL
    assert_error(client.get(prefix + "1" * (room + 1)), 414, "uri_too_long")


def test_query_longer_than_max_query_is_refused(client: TestClient) -> None:
    body = assert_error(client.get(f"{API}/lookup", params={"q": "1" * (MAX_QUERY + 1)}), 422, "invalid_parameter")
    assert str(MAX_QUERY) in body["error"]["message"]
    assert client.get(f"{API}/lookup", params={"q": "ssh" + " " * (MAX_QUERY - 3)}).status_code == 200
    assert_error(client.get(f"{API}/service/{'a' * (MAX_QUERY + 1)}"), 422, "invalid_parameter")
    assert_error(client.get(f"{API}/rules", params={"service": "s" * (MAX_QUERY + 1)}), 422, "invalid_parameter")


@pytest.mark.parametrize("text", ["a\x00b", "44\x1b[31m3", "ss\x7fh", "a\r\nSet-Cookie: x=1", "\x08443"])
def test_control_characters_are_refused(client: TestClient, text: str) -> None:
    response = client.get(f"{API}/lookup", params={"q": text})
    body = assert_error(response, 400, "bad_query")
    assert "control characters" in body["error"]["message"]
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "url",
    [
        f"{API}/lookup?q=%ff",
        f"{API}/lookup?q=%C0%AF",
        f"{API}/search?q=%ED%A0%80",
        f"{API}/service/%80abc",
        f"{API}/lookup?%ff=1&q=1",
    ],
)
def test_invalid_utf8_percent_encoding_is_refused(client: TestClient, url: str) -> None:
    assert_error(client.get(url), 400, "bad_request")


def test_repeated_parameters(client: TestClient) -> None:
    body = assert_error(client.get(f"{API}/lookup?q=443&q=22"), 422, "invalid_parameter")
    assert "more than once" in body["error"]["message"]
    assert_error(client.get(f"{API}/search?q=voice&limit=3&limit=4"), 422, "invalid_parameter")
    assert_error(client.get(f"{API}/rules?service=ssh&target=ufw&target=pf"), 422, "invalid_parameter")
    # List parameters are meant to be repeated.
    assert client.get(f"{API}/search?q=voice&category=voip&category=chat").status_code == 200
    assert client.get(f"{API}/rules?service=ssh&service=http").status_code == 200


def test_too_many_list_items_are_refused(client: TestClient) -> None:
    params = [("service", "ssh")] * 51
    assert_error(client.get(f"{API}/rules", params=params), 422, "invalid_parameter")


def test_unknown_parameters_are_ignored(client: TestClient) -> None:
    assert client.get(f"{API}/lookup?q=443&callback=alert").status_code == 200


# --- hostile content stays data ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An app over the catalog plus tests/data/hostile.yaml as a local service file (its own index cache)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("ANYPORT_PATH", str(HOSTILE))
    patch.setenv("ANYPORT_CACHE_DIR", str(tmp_path_factory.mktemp("hostile-cache")))
    try:
        with TestClient(create_app()) as test_client:
            yield test_client
    finally:
        patch.undo()


@pytest.mark.parametrize(
    ("url", "pick"),
    [
        (f"{API}/service/evil-service", lambda body: body["title"]),
        (f"{API}/lookup?q=4444/tcp", lambda body: body["matches"][0]["title"]),
        (f"{API}/search?q=evil", lambda body: body["results"][0]["title"]),
    ],
)
def test_script_in_a_title_is_a_json_string(hostile_client: TestClient, url: str, pick: Any) -> None:
    response = hostile_client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert_secure_headers(response)
    assert pick(response.json()) == HOSTILE_TITLE
    # The markup travels inside a JSON string literal, never as markup of its own.
    assert json.dumps(HOSTILE_TITLE, ensure_ascii=False) in response.text
    assert response.text.count("<script>") == response.text.count(json.dumps(HOSTILE_TITLE, ensure_ascii=False))


def test_hostile_query_is_echoed_as_data(client: TestClient) -> None:
    query = "<img src=x onerror=alert(1)>"
    response = client.get(f"{API}/lookup", params={"q": query})
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    if response.status_code == 200:
        assert response.json()["query"] == query
    else:
        assert_error(response, 400, "bad_query")


def test_web_app_module_exports(app: FastAPI) -> None:
    assert web_app.wants_json("/api/v1/x")
    assert not web_app.wants_json("/apis")
    assert isinstance(app, web_app.AnyportApp)
