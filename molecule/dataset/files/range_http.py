"""The lab's upstream for the dataset scenario: an HTTP file server that answers Range requests.

The lab's own web server (python3 -m http.server on port 80) ignores Range, so no download from it
can resume. prepare.yml runs this one on the internet host beside it (same document root, its own
port) for the dataset scenario. Standard library only.

  range_http.py --root /srv/www --port 8080 --log /var/log/hpcdl-lab-range.jsonl --control /run/hpcdl-lab-range

- GET and HEAD; `Range: bytes=A-B`, `A-` and `-N` (one range) answered with 206 and Content-Range,
  416 when unsatisfiable; Accept-Ranges, Content-Length, Last-Modified on every file.
- Every request is logged as one JSON line: time, client, method, path, range, status, and the
  body bytes really written to the socket (so a cut transfer logs what went out before the cut).
  The verifier counts upstream bytes from this log.
- A real cut, for the resume tests: when the file <control>/cut-at holds a byte offset, a response
  that reaches that offset of its file writes up to it, then resets the connection (SO_LINGER 0:
  the client gets an RST, not a clean end) and creates <control>/down; while <control>/down
  exists, every new connection is reset at once, as an unreachable upstream would be. The test
  removes both files to bring the upstream back.
"""
import argparse
import contextlib
import email.utils
import json
import os
import posixpath
import re
import socket
import struct
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 1 << 20
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Cut(Exception):
    """The connection was cut on purpose (<control>/cut-at)."""


def reset(sock):
    """Close with an RST: the peer sees 'connection reset', as when a link drops."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class Handler(BaseHTTPRequestHandler):
    server_version = "hpcdl-lab-range/1"
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.sent = 0
        self.logged = False

    # -- the cut ---------------------------------------------------------------------------------
    def control(self, name):
        return os.path.join(self.server.control, name)

    def cut_at(self):
        try:
            with open(self.control("cut-at")) as handle:
                return int(handle.read().strip())
        except (OSError, ValueError):
            return None

    # -- log -------------------------------------------------------------------------------------
    def log_request(self, code="-", size="-"):
        """Replaced by write_log (one JSON line per request, with the bytes really sent)."""

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        """Quiet: the JSON log says what happened."""

    def write_log(self, status, complete):
        if self.logged:
            return
        self.logged = True
        entry = {
            "time": round(time.time(), 3), "client": self.client_address[0], "method": self.command,
            "path": self.path, "range": self.headers.get("Range"), "status": status,
            "bytes": self.sent, "complete": complete,
        }
        with self.server.log_lock, open(self.server.log, "a") as log:
            log.write(json.dumps(entry) + "\n")

    # -- requests --------------------------------------------------------------------------------
    def handle_one_request(self):
        if os.path.exists(self.control("down")):
            reset(self.connection)
            self.close_connection = True
            return
        try:
            super().handle_one_request()
        except Cut:
            self.close_connection = True

    def do_HEAD(self):  # noqa: N802 - http.server's naming
        self.serve(body=False)

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.serve(body=True)

    def translate(self):
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        parts = [p for p in posixpath.normpath(path).split("/") if p not in ("", ".", "..")]
        return os.path.join(self.server.root, *parts)

    def refuse(self, status, text):
        body = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.write_log(status, True)

    def serve(self, body):
        path = self.translate()
        if not os.path.isfile(path):
            self.refuse(404, "not found")
            return
        size = os.path.getsize(path)
        start, end, status = 0, size - 1, 200
        wanted = self.headers.get("Range")
        if wanted:
            match = RANGE.match(wanted.strip())
            if not match or match.groups() == ("", ""):
                self.refuse(416, "one bytes=A-B range only")
                return
            first, last = match.groups()
            if first == "":
                start, end = max(size - int(last), 0), size - 1
            else:
                start = int(first)
                end = min(int(last), size - 1) if last else size - 1
            if start >= size or start > end:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                self.write_log(416, True)
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Last-Modified", email.utils.formatdate(os.path.getmtime(path), usegmt=True))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if not body:
            self.write_log(status, True)
            return
        cut = self.cut_at()
        with open(path, "rb") as handle:
            handle.seek(start)
            position = start
            while position <= end:
                length = min(CHUNK, end - position + 1)
                if cut is not None and start <= cut <= end and position + length > cut:
                    length = cut - position
                    if length > 0:
                        self.wfile.write(handle.read(length))
                        self.sent += length
                    self.wfile.flush()
                    with open(self.control("down"), "w") as flag:
                        flag.write(f"cut at byte {cut} of {self.path}\n")
                    self.write_log(status, False)
                    reset(self.connection)
                    raise Cut()
                try:
                    self.wfile.write(handle.read(length))
                except OSError:
                    self.write_log(status, False)
                    raise
                self.sent += length
                position += length
        self.write_log(status, True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--log", required=True)
    parser.add_argument("--control", required=True)
    args = parser.parse_args()
    os.makedirs(args.control, exist_ok=True)
    server = ThreadingHTTPServer((args.bind, args.port), Handler)
    server.daemon_threads = True
    server.root, server.log, server.control = os.path.abspath(args.root), args.log, args.control
    server.log_lock = threading.Lock()
    server.serve_forever()


if __name__ == "__main__":
    main()
