"""Answers every request with a 500, like a Django app whose static manifest is missing an entry."""

import http.server
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = (b"<!doctype html><html><head><title>Server Error</title></head><body>"
                b"<h1>Missing staticfiles manifest entry for 'css/site.css'</h1></body></html>")
        self.send_response(500)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print("ValueError: Missing staticfiles manifest entry for 'css/site.css'", file=sys.stderr, flush=True)


http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
