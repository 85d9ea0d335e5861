"""A tiny HTTP server on 127.0.0.1 for download tests: routes, hit counts, faults."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    """What one path serves.

    Attributes:
        body: the bytes sent.
        status: the HTTP status.
        content_type: the Content-Type header.
        declared_length: Content-Length to announce (default: the real length); larger
            than ``body`` simulates a connection that drops mid-file.
            Smaller than ``body`` is a server that lies the other way: the client reads only
            the announced bytes.
        stall: send the headers, then wait (until the server stops) instead of the body.
        drip: seconds between single bytes of the body (a server too slow to finish, yet
            never silent long enough for a read timeout); 0 sends the body at once.
    """

    body: bytes = b""
    status: int = 200
    content_type: str = "application/octet-stream"
    declared_length: int | None = None
    stall: bool = False
    drip: float = 0.0


class CheckpointServer:
    """``with CheckpointServer() as s: s.routes['/a.pth'] = Route(data); s.url('/a.pth')``."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                route = server.routes.get(
                    self.path, Route(b"not found", status=404, content_type="text/plain")
                )
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                length = len(route.body) if route.declared_length is None else route.declared_length
                self.send_header("Content-Length", str(length))
                self.end_headers()
                if route.stall:
                    self.wfile.flush()
                    server.release.wait(10)
                    return
                if route.drip:
                    self._drip(route)
                    return
                self.wfile.write(route.body)
                if route.declared_length is not None:
                    self.close_connection = True

            def _drip(self, route: Route) -> None:
                for i in range(len(route.body)):
                    if server.release.wait(route.drip):
                        return
                    try:
                        self.wfile.write(route.body[i : i + 1])
                        self.wfile.flush()
                    except OSError:  # the client gave up
                        return

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    def url(self, path: str) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def __enter__(self) -> CheckpointServer:  # noqa: PYI034
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
