"""``anyport serve``: run the web application with uvicorn."""

from __future__ import annotations

import sys

from anyport.errors import AnyportError


def serve(host: str, port: int, workers: int = 1) -> int:
    """Serve until interrupted; the index is built (if needed) before the first request."""
    try:
        import uvicorn
    except ImportError:
        raise AnyportError("the web page needs its extra: pip install 'anyport[web]'") from None
    if not 1 <= port <= 65535:
        raise AnyportError(f"port {port} is outside 1-65535")
    if not 1 <= workers <= 64:
        raise AnyportError("--workers must be between 1 and 64")
    from anyport.index.store import ensure_index

    ensure_index()  # build once here, not in each worker
    shown = f"[{host}]" if ":" in host else host
    print(f"anyport: serving on http://{shown}:{port}/ (Ctrl-C to stop)", file=sys.stderr, flush=True)
    uvicorn.run(
        "anyport.web.app:default_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,  # nothing is written per request (errors still reach the log)
        server_header=False,
    )
    return 0
