"""llama-cpp-python's OpenAI-compatible server as a test subprocess, and a request-counting proxy.

Plain module (imported explicitly, like ``tests.tiny_model``); the fixtures are in
``tests/integration/conftest.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

SERVED_NAME = "smollm2"
STARTUP_TIMEOUT_S = 120.0
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # localhost: never through a proxy


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    """``python -m llama_cpp.server`` on one GGUF at ``http://127.0.0.1:<port>/v1``.

    ``logits_all`` is on (the server's default, given explicitly): ``/completions`` with ``echo`` and
    ``logprobs`` needs every position's logits. Output goes to a temporary file, not a pipe (a full
    pipe would block the server), and is quoted when the server fails to start.
    """

    def __init__(
        self, gguf: Path, *, port: int | None = None, served_name: str = SERVED_NAME, threads: int = 1
    ) -> None:
        self.gguf = Path(gguf)
        self.port = port or free_port()
        self.served_name = served_name
        self.threads = threads
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "llama_cpp.server", "--model", str(self.gguf), "--model_alias", self.served_name,
            "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048", "--logits_all", "true",
            "--n_threads", str(self.threads), "--n_threads_batch", str(self.threads), "--verbose", "false",
        ]  # fmt: skip

    def start(self, timeout_s: float = STARTUP_TIMEOUT_S) -> LlamaServer:
        """Start the server and wait until ``/v1/models`` answers; RuntimeError with its output if it does not."""
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (kept open while the server runs; closed by stop)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with _DIRECT.open(f"{self.url}/models", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                why = f"exited with {self.process.returncode}" if self.process.poll() is not None else "timed out"
                output = self.output()
                self.stop()
                raise RuntimeError(f"llama_cpp.server {why} before {self.url}/models answered; its output:\n{output}")
            time.sleep(0.2)

    def output(self, limit: int = 4000) -> str:
        """The last ``limit`` characters the server wrote."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", errors="replace")[-limit:]

    def stop(self) -> None:
        """Terminate, then kill after 10 s; idempotent."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


class CountingProxy:
    """A tiny HTTP proxy in a thread that forwards to ``upstream`` and records every request.

    ``requests`` holds ``(method, path, json body or None)`` in arrival order.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.requests: list[tuple[str, str, Any]] = []
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        # upstream ends in /v1: the proxy serves the same paths
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def chat_messages(self) -> list[list[dict[str, str]]]:
        """The ``messages`` of every chat request seen so far."""
        with self.lock:
            return [body["messages"] for method, path, body in self.requests if path.endswith("/chat/completions")]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 120

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
                pass

            def _forward(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else None
                with proxy.lock:
                    proxy.requests.append((method, self.path, json.loads(data) if data else None))
                upstream = proxy.upstream.rsplit("/v1", 1)[0] + self.path
                request = urllib.request.Request(upstream, data=data, method=method)
                request.add_header("Content-Type", self.headers.get("Content-Type") or "application/json")
                try:
                    with _DIRECT.open(request, timeout=120) as response:
                        status, payload = response.status, response.read()
                except urllib.error.HTTPError as err:
                    status, payload = err.code, err.read()
                except OSError as err:  # the server is gone: say so as a gateway would
                    status, payload = 502, json.dumps({"error": str(err)}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(payload)

            def do_GET(self) -> None:
                self._forward("GET")

            def do_POST(self) -> None:
                self._forward("POST")

        return Handler
