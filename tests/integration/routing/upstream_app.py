"""A tiny upstream app for the router tests, run as its own process: `python upstream_app.py NAME PORT`.

Answers every GET with NAME (HTTP/1.1, keep-alive, like a real app server). Run as a process so that
"stopping an instance" in a test is a real process going away. On SIGTERM it behaves like a well-behaved
app server: stops accepting, lets in-flight requests finish, then exits.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

stopping = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        body = sys.argv[1].encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        if stopping.is_set():
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _graceful_exit(server: ThreadingHTTPServer) -> None:
    stopping.set()
    server.shutdown()  # stop accepting
    server.server_close()  # new connections are refused from here on
    time.sleep(0.5)  # in-flight requests finish
    os._exit(0)


if __name__ == "__main__":
    httpd = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler)
    httpd.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=_graceful_exit, args=(httpd,)).start())
    httpd.serve_forever(poll_interval=0.05)
