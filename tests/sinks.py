"""A real HTTP server on loopback that records what it receives (SMS gateway, webhooks)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None


@dataclass
class HttpSink:
    status: int = 200  # what to answer; set to 500 to simulate a failing gateway
    requests: list[Request] = field(default_factory=list)

    def __enter__(self) -> HttpSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                sink.requests.append(Request("POST", self.path, dict(self.headers), body, parsed))
                self.send_response(sink.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


class TricklingSmtp:
    """An SMTP server on loopback that takes the message and then never finishes its
    reply: it sends a continuation line ``250-…`` every ``every`` seconds, forever — so
    every socket read of the client succeeds and only an overall deadline ends the send.
    ``received`` counts the messages whose data it read to the end."""

    def __init__(self, every: float = 0.5) -> None:
        import socket

        self.every = every
        self.received = 0
        self._stop = threading.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> TricklingSmtp:
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _accept(self) -> None:
        self._sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            t = threading.Thread(target=self._talk, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _talk(self, conn) -> None:
        f = conn.makefile("rb")
        try:
            conn.sendall(b"220 trickle.example ESMTP\r\n")
            in_data = False
            while not self._stop.is_set():
                line = f.readline()
                if not line:
                    return
                if in_data:
                    if line == b".\r\n":
                        self.received += 1
                        while not self._stop.is_set():  # the reply that never ends
                            conn.sendall(b"250-still thinking\r\n")
                            self._stop.wait(self.every)
                        return
                    continue
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    conn.sendall(b"250 trickle.example\r\n")
                elif verb == b"DATA":
                    in_data = True
                    conn.sendall(b"354 go ahead\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")
        except OSError:
            return
        finally:
            conn.close()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._sock.close()
