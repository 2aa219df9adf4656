"""A plugin archive, and one file served over HTTP on 127.0.0.1, as an artifact store serves it."""

from __future__ import annotations

import contextlib
import http.server
import io
import threading
import zipfile
from collections.abc import Iterator

__all__ = ["plugin_archive", "serve_bytes"]


def plugin_archive(name: str = "datagen") -> bytes:
    """A small ZIP shaped like a connector plugin (`<name>/lib/<name>.jar`)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(f"{name}/lib/{name}.jar", b"classes")
    return out.getvalue()


@contextlib.contextmanager
def serve_bytes(data: bytes, name: str = "archive.zip") -> Iterator[str]:
    """Serve `data` at the URL this yields (any path answers with it); stopped on exit."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name=f"serve {name}", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{name}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
