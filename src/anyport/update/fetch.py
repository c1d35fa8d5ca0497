"""Read a registry file from an http(s) URL or a local path, within limits.

Every way a download goes wrong becomes an :class:`UpdateError` that says what happened: an HTTP error status, an
HTML page where a CSV was expected (captive portals and error pages often answer 200), a server slower than the
time limit, too many redirects, a body larger than the size cap (before or after gzip), a body cut short.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

from anyport import __version__
from anyport.errors import UpdateError

DEFAULT_TIMEOUT = 60.0
MAX_BYTES = 32 * 1024 * 1024  # IANA's service-names CSV is about 1.2 MB; a body 25 times that is not it
MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_HTML_START = re.compile(rb"^\s*(?:<!doctype\s+html|<html|<head|<body|<\?xml)", re.IGNORECASE)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Fetched:
    """The bytes of a registry file (gzip already undone) and where they came from."""

    data: bytes
    location: str  # what was asked for: the URL, or the file's absolute path
    final_url: str = ""  # where redirects ended, when they did
    last_modified: str = ""
    etag: str = ""
    not_modified: bool = False  # the server answered 304 to the validators given: the copy in use is current


def is_url(location: str) -> bool:
    """True for ``http://`` and ``https://`` locations."""
    return location.lower().startswith(("http://", "https://"))


def fetch(
    location: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = MAX_BYTES,
    etag: str = "",
    last_modified: str = "",
) -> Fetched:
    """The decompressed bytes at ``location`` (a URL or a local file), or an UpdateError saying what was wrong.

    ``etag`` and ``last_modified`` (from an earlier download of the same URL) make the request conditional.
    """
    if timeout <= 0:
        raise UpdateError("the timeout must be more than 0 seconds")
    if is_url(location):
        fetched = _fetch_url(location, timeout, max_bytes, etag, last_modified)
        if fetched.not_modified:
            return fetched
    elif re.match(r"^[a-z][a-z0-9+.-]*://", location, re.IGNORECASE):
        raise UpdateError(f"cannot fetch {location}: only http:// and https:// URLs and local files are supported")
    else:
        fetched = _read_file(location, max_bytes)
    data = _gunzip(fetched.data, location, max_bytes) if fetched.data.startswith(_GZIP_MAGIC) else fetched.data
    _refuse_html(data, location)
    if not data.strip():
        raise UpdateError(f"{location} is empty")
    return Fetched(data, fetched.location, fetched.final_url, fetched.last_modified, fetched.etag)


def _read_file(location: str, max_bytes: int) -> Fetched:
    path = os.path.abspath(os.path.expanduser(location))
    try:
        if os.path.isdir(path):
            raise UpdateError(f"{location} is a directory; give the CSV file itself")
        if os.path.getsize(path) > max_bytes:
            raise UpdateError(f"{location} is larger than {max_bytes:,} bytes; that is not an IANA registry file")
        with open(path, "rb") as handle:
            return Fetched(handle.read(), path)
    except OSError as exc:
        raise UpdateError(f"cannot read {location}: {exc.strerror or exc}") from None


def _fetch_url(url: str, timeout: float, max_bytes: int, etag: str, last_modified: str) -> Fetched:
    import http.client
    import socket
    import urllib.error
    import urllib.request

    class _BoundedRedirects(urllib.request.HTTPRedirectHandler):
        max_redirections = MAX_REDIRECTS
        max_repeats = 1

        def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
            if not is_url(newurl):
                raise UpdateError(f"{url} redirects to {newurl}, which is not an http(s) URL")
            if req.full_url.lower().startswith("https:") and not newurl.lower().startswith("https:"):
                raise UpdateError(f"{url} redirects from https to {newurl}; refusing the unencrypted download")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    opener = urllib.request.build_opener(_BoundedRedirects())
    headers = {
        "User-Agent": f"anyport/{__version__}",
        "Accept": "text/csv, text/plain;q=0.9, */*;q=0.1",
        "Accept-Encoding": "gzip",
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    request = urllib.request.Request(url, headers=headers)
    started = time.monotonic()
    try:
        with opener.open(request, timeout=timeout) as response:
            headers = response.headers
            encoding = (headers.get("Content-Encoding") or "identity").strip().lower()
            if encoding not in ("identity", "gzip", "x-gzip"):
                raise UpdateError(f"{url} came with Content-Encoding {encoding}, which anyport cannot decode")
            length = headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise UpdateError(f"{url} announces {int(length):,} bytes, more than the {max_bytes:,} allowed")
            content_type = (headers.get("Content-Type") or "").lower()
            body = _read_body(response, url, started, timeout, max_bytes)
            if length and length.isdigit() and len(body) < int(length):
                raise http.client.IncompleteRead(body, int(length) - len(body))
            if "html" in content_type:
                _refuse_html(body, url, always=True)
            final = response.geturl()
            return Fetched(
                body,
                url,
                final if final != url else "",
                headers.get("Last-Modified") or "",
                headers.get("ETag") or "",
            )
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 304 and (etag or last_modified):
            return Fetched(b"", url, last_modified=last_modified, etag=etag, not_modified=True)
        if 300 <= exc.code < 400:
            raise UpdateError(f"{url}: too many redirects (more than {MAX_REDIRECTS}) or a redirect loop") from None
        raise UpdateError(f"{url}: the server answered {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError | socket.timeout):
            raise UpdateError(f"{url}: no answer within {timeout:g} s (--timeout)") from None
        raise UpdateError(f"cannot reach {url}: {exc.reason}") from None
    except TimeoutError:
        raise UpdateError(f"{url}: the server stopped sending for {timeout:g} s (--timeout)") from None
    except http.client.IncompleteRead as exc:
        raise UpdateError(f"{url}: the download was cut short after {len(exc.partial):,} bytes") from None
    except (http.client.HTTPException, OSError) as exc:
        raise UpdateError(f"{url}: the download failed ({exc.__class__.__name__}: {exc})") from None


def _read_body(response: object, url: str, started: float, timeout: float, max_bytes: int) -> bytes:
    # read1 returns what one socket read gives: a server that trickles bytes cannot keep the loop past the limit.
    read1 = response.read1  # type: ignore[attr-defined]
    chunks: list[bytes] = []
    total = 0
    while True:
        if time.monotonic() - started > timeout:
            raise UpdateError(f"{url}: the download took longer than {timeout:g} s (--timeout)")
        chunk = read1(_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:
            raise UpdateError(f"{url} sent more than {max_bytes:,} bytes; that is not an IANA registry file")
        chunks.append(chunk)
    return b"".join(chunks)


def _gunzip(data: bytes, location: str, max_bytes: int) -> bytes:
    import zlib

    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise UpdateError(f"{location}: broken gzip data ({exc})") from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise UpdateError(f"{location} unpacks to more than {max_bytes:,} bytes; that is not an IANA registry file")
    if not inflater.eof:
        raise UpdateError(f"{location}: the gzip data is cut short")
    return out


def _refuse_html(data: bytes, location: str, *, always: bool = False) -> None:
    head = data[:4096].lstrip(b"\xef\xbb\xbf")
    if always or _HTML_START.match(head):
        title = _TITLE.search(data[:65536])
        said = " ".join(title.group(1).decode("utf-8", "replace").split())[:100] if title else ""
        detail = f" titled {said!r}" if said else ""
        raise UpdateError(f"{location} is an HTML page{detail}, not a CSV file (an error or login page?)")
