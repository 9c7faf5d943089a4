"""The echo receiver of `cronwright dev` on 127.0.0.1:8089, the address every example in
README.md, crds/ and docs/ calls: it answers 200 to anything and logs one line per request
with its body, so a first run succeeds and shows what a target receives."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ECHO_ADDRESS = ("127.0.0.1", 8089)


def start_echo(
    log: Path,
    address: tuple[str, int] = ECHO_ADDRESS,
    bind: Callable[..., ThreadingHTTPServer] = ThreadingHTTPServer,
) -> ThreadingHTTPServer | None:
    """The running receiver; None when the port is taken (the user's own receiver is
    listening there). `bind` makes the server (`cronwright dev-cluster` makes it inside
    the node's network namespace, where pods reach it)."""
    logger = logging.getLogger("cronwright.dev.echo")
    handler_log = logging.FileHandler(log)
    handler_log.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(handler_log)
    logger.setLevel(logging.INFO)

    class Echo(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            logger.info("%s %s %s", self.command, self.path, body[:200].decode(errors="replace"))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *_: object) -> None:
            """Requests are logged by `_answer`, with their body."""

    try:
        server = bind(address, Echo)
    except OSError:
        return None
    # A short poll interval: shutdown() waits for the loop to notice, and Ctrl-C waits for it.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return server
