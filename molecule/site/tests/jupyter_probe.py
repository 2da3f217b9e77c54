"""What a user does with Jupyter, done from the controller with the standard library, websocket-client
and Debian's chromium: open the login page, call the REST API, run code in a kernel over the
WebSocket (Jupyter's messaging protocol), save a notebook, render the notebook tree in a real
browser and look at the screenshot.

Everything goes straight to the address given (no proxy from the environment), and the browser
resolves no host name at all, so nothing here talks to anything but that address.
"""
import http.client
import json
import re
import shutil
import struct
import subprocess
import tempfile
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import websocket

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colours in tracebacks


@dataclass
class Response:
    status: int
    headers: dict
    body: str
    path: str

    def __str__(self):
        return f"HTTP {self.status} for {self.path}: {self.body[:500]!r}"


@dataclass
class Execution:
    """What one execute_request produced, gathered from the iopub and shell channels."""

    stdout: str = ""
    stderr: str = ""
    results: list = field(default_factory=list)  # text/plain of execute_result messages
    error: str = ""  # ename: evalue, with the traceback
    reply_status: str = ""  # execute_reply's status: ok, error, aborted
    idle: bool = False  # iopub said status idle for this request
    messages: list = field(default_factory=list)  # (channel, msg_type) in arrival order

    def __str__(self):
        return (f"stdout={self.stdout!r} stderr={self.stderr!r} results={self.results!r} error={self.error!r} "
                f"reply={self.reply_status!r} idle={self.idle} messages={self.messages}")


class Jupyter:
    """A Jupyter server at http://host:port<prefix> (its base_url: "/" or "/gpu2/"), optionally with its token.

    Paths given to the methods are the server's own ("/api/kernels"); the prefix is put before them.
    """

    def __init__(self, host, port, token=None, timeout=20, prefix="/"):
        self.host = host
        self.port = port
        self.token = token
        self.timeout = timeout
        self.prefix = "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"
        self.base = f"http://{host}:{port}"
        self.url = f"{self.base}{self.prefix}"

    def path(self, path):
        """The request path of one of the server's paths: under its prefix."""
        return self.prefix.rstrip("/") + path

    # -- HTTP ------------------------------------------------------------------------------------
    def request(self, method, path, body=None, auth=True, headers=None, *, raw=False):
        """One request; `path` is the server's own (the prefix is added), or the whole path with raw."""
        path = path if raw else self.path(path)
        all_headers = dict(headers or {})
        if auth and self.token:
            all_headers["Authorization"] = f"token {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=data, headers=all_headers)
            resp = conn.getresponse()
            text = resp.read().decode("utf-8", "replace")
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, text, path)
        finally:
            conn.close()

    def get_following(self, path, auth=False, limit=5, *, raw=False):
        """GET path and follow redirects on this host and port; returns the last response and the chain
        of whole request paths."""
        chain = [path if raw else self.path(path)]
        resp = self.request("GET", chain[0], auth=auth, raw=True)
        while resp.status in (301, 302, 303, 307, 308) and len(chain) <= limit:
            target = urljoin(f"{self.base}{chain[-1]}", resp.headers.get("location", ""))
            parts = urlsplit(target)
            assert (parts.hostname, parts.port or 80) == (self.host, self.port), \
                f"{chain[-1]} redirects off the server, to {target} (chain {chain})"
            chain.append(parts.path + (f"?{parts.query}" if parts.query else ""))
            resp = self.request("GET", chain[-1], auth=auth, raw=True)
        return resp, chain

    def api(self, method, path, body=None, expect=(200,)):
        resp = self.request(method, path, body=body)
        assert resp.status in expect, f"{method} {path} answered {resp.status}, not {expect}: {resp.body[:1000]!r}"
        return json.loads(resp.body) if resp.body.strip() else None

    # -- kernels -----------------------------------------------------------------------------------
    def start_kernel(self):
        return self.api("POST", "/api/kernels", body={}, expect=(201,))["id"]

    def delete_kernel(self, kernel_id):
        return self.request("DELETE", f"/api/kernels/{kernel_id}")

    def channels(self, kernel_id):
        """The kernel's WebSocket, opened with the token (no proxy, whatever the environment says)."""
        url = f"ws://{self.host}:{self.port}{self.path(f'/api/kernels/{kernel_id}/channels')}?session_id={uuid.uuid4().hex}"
        headers = [f"Authorization: token {self.token}"] if self.token else []
        return KernelChannels(websocket.create_connection(url, header=headers, timeout=self.timeout,
                                                          http_no_proxy=["*"]))

    # -- contents ----------------------------------------------------------------------------------
    def save_notebook(self, path, cells):
        """PUT a notebook (code cells given as source strings) at path (relative to the server's root):
        201 when it is new, 200 when it replaces one."""
        notebook = {
            "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "cells": [{"cell_type": "code", "id": uuid.uuid4().hex[:8], "source": source, "metadata": {},
                       "outputs": [], "execution_count": None} for source in cells],
        }
        body = {"type": "notebook", "format": "json", "content": notebook}
        return self.api("PUT", f"/api/contents/{path}", body=body, expect=(200, 201))


class KernelChannels:
    """Jupyter's messaging protocol (v5) over the server's kernel WebSocket, JSON text frames."""

    def __init__(self, ws):
        self.ws = ws
        self.session = uuid.uuid4().hex

    def close(self):
        self.ws.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, msg_type, content, channel="shell"):
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": msg_type, "session": self.session, "username": "hpcdl-test",
                       "version": "5.3", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            "parent_header": {}, "metadata": {}, "content": content, "channel": channel, "buffers": [],
        }))
        return msg_id

    def receive(self, deadline):
        self.ws.settimeout(max(0.1, deadline - time.monotonic()))
        return json.loads(self.ws.recv())

    def wait_ready(self, timeout=60):
        """kernel_info_request until its reply comes (a kernel that is still starting drops requests)."""
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            msg_id = self.send("kernel_info_request", {})
            retry = min(deadline, time.monotonic() + 5)
            while time.monotonic() < retry:
                try:
                    msg = self.receive(retry)
                except websocket.WebSocketTimeoutException:
                    break
                seen.append((msg.get("channel"), msg.get("msg_type")))
                if msg.get("msg_type") == "kernel_info_reply" and msg["parent_header"].get("msg_id") == msg_id:
                    return msg["content"]
        raise AssertionError(f"the kernel did not answer kernel_info_request within {timeout} s; saw {seen}")

    def execute(self, code, timeout=60):
        """Run code; gather its output until iopub says idle and the shell's execute_reply has come."""
        msg_id = self.send("execute_request", {"code": code, "silent": False, "store_history": True,
                                               "user_expressions": {}, "allow_stdin": False, "stop_on_error": True})
        out = Execution()
        deadline = time.monotonic() + timeout
        while not (out.idle and out.reply_status):
            try:
                msg = self.receive(deadline)
            except websocket.WebSocketTimeoutException:
                raise AssertionError(f"no complete answer to {code!r} within {timeout} s; got {out}") from None
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg.get("msg_type"), msg.get("content", {})
            out.messages.append((msg.get("channel"), kind))
            if kind == "stream":
                if content.get("name") == "stderr":
                    out.stderr += content.get("text", "")
                else:
                    out.stdout += content.get("text", "")
            elif kind == "execute_result":
                out.results.append(content.get("data", {}).get("text/plain", ""))
            elif kind == "error":
                trace = ANSI.sub("", "\n".join(content.get("traceback", [])))
                out.error = f"{content.get('ename')}: {content.get('evalue')}\n{trace}"
            elif kind == "status" and content.get("execution_state") == "idle":
                out.idle = True
            elif kind == "execute_reply":
                out.reply_status = content.get("status", "?")
        return out


# -- the browser --------------------------------------------------------------------------------
def chromium_binary():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(url, *mode, allow_address, timeout=120):
    """Debian's chromium, headless, on url. It resolves no host name (every request for one fails)
    and uses no proxy, so it can reach nothing but IP literals; the page's own address is the only
    one that answers. Returns the completed process (stdout: the DOM for --dump-dom)."""
    binary = chromium_binary()
    assert binary, "chromium is not installed on the controller: `make deps` installs it (apt-get install chromium)"
    with tempfile.TemporaryDirectory(prefix="hpcdl-chromium-") as profile:
        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                "--virtual-time-budget=15000", "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--no-proxy-server", "--password-store=basic",
                f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {allow_address}",
                f"--user-data-dir={profile}", *mode, url]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"chromium failed (rc={proc.returncode}): {proc.stderr[-2000:]}"
    return proc


# -- PNG ----------------------------------------------------------------------------------------
@dataclass
class Png:
    width: int
    height: int
    bit_depth: int
    colour_type: int
    colours: int  # distinct pixel values
    top_share: float  # share of the pixels that have the commonest value


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(path):
    """Check the signature and chunks, decode the rows (8-bit, non-interlaced RGB/RGBA/grey) and count colours."""
    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG (starts with {data[:8]!r})"
    pos, chunks = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        assert zlib.crc32(kind + body) == crc, f"{path}: chunk {kind!r} at {pos} has a bad CRC"
        chunks.append((kind, body))
        pos += 12 + length
    kinds = [chunk[0] for chunk in chunks]
    assert kinds and kinds[0] == b"IHDR" and kinds[-1] == b"IEND", f"{path}: chunks {kinds}"
    width, height, depth, colour, _compression, _filter, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    assert depth == 8 and channels and interlace == 0, \
        f"{path}: bit depth {depth}, colour type {colour}, interlace {interlace}: not what chromium writes"
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = width * channels
    assert len(raw) == height * (stride + 1), f"{path}: {len(raw)} bytes of image data for {width}x{height}"
    prev = bytearray(stride)
    counts = {}
    for y in range(height):
        kind = raw[y * (stride + 1)]
        row = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(channels, stride):
                row[i] = (row[i] + row[i - channels]) & 0xFF
        elif kind == 2:
            row = bytearray((a + b) & 0xFF for a, b in zip(row, prev, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = row[i - channels] if i >= channels else 0
                row[i] = (row[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                left = row[i - channels] if i >= channels else 0
                upper_left = prev[i - channels] if i >= channels else 0
                row[i] = (row[i] + _paeth(left, prev[i], upper_left)) & 0xFF
        else:
            assert kind == 0, f"{path}: row {y} has filter type {kind}"
        pixels = bytes(row)
        for x in range(0, stride, channels):
            pixel = pixels[x:x + channels]
            counts[pixel] = counts.get(pixel, 0) + 1
        prev = row
    return Png(width, height, depth, colour, len(counts), max(counts.values()) / (width * height))
