"""HTTP servers on 127.0.0.1 for the tests (never another address): a file server, and the code that
starts one in a thread and stops it. ``tests/`` is on sys.path (tests/conftest.py sits there), so
unit and integration tests alike ``from loopback import FileHandler, serve, stop``."""
import functools
import http.server
import threading


class FileHandler(http.server.BaseHTTPRequestHandler):
    """GET serves ``files[path]`` (bytes), else 404; each path asked for is appended to ``hits``.
    Give each server a subclass of its own (``type("Mine", (FileHandler,), {"files": {...}, "hits": []})``)."""

    files = {}
    hits = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.hits.append(self.path)
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(handler):
    """A ThreadingHTTPServer for ``handler`` on 127.0.0.1 (a free port), serving in a daemon thread;
    ``server.url(path)`` is that path's URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=functools.partial(httpd.serve_forever, poll_interval=0.05), daemon=True).start()
    httpd.url = lambda path="": f"http://127.0.0.1:{httpd.server_address[1]}{path}"
    return httpd


def stop(httpd):
    httpd.shutdown()
    httpd.server_close()
