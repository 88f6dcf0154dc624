"""A fault-injecting fake OpenAI-compatible endpoint: ``tests.openai_server``'s server, told per request how to fail.

Real HTTP on 127.0.0.1 (a free port). Each ``POST /v1/chat/completions`` takes the next entry of
``FaultServer.script`` (None: answer normally), then ``FaultServer.default`` once the script is spent;
``FaultServer.requests`` counts every POST (the client's attempts), ``max_in_flight`` the most it had
in flight at once. ``/v1/completions`` and ``GET /v1/models`` are answered normally unless ``paths``
names them.

    with serve_faults() as fake:
        fake.script = [Fault.status(503, retry_after="0"), None]   # one 503, then an answer

Run as a program it serves until killed and prints its URL (the load benchmark's server):
``python -m tests.fault_server`` (``--no-record``: keep counters only; ``--latency S``: each answer
waits S seconds). ``GET /v1/_stats`` gives the request count and the most requests in flight at once.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.openai_server import FakeServer, serve

CHAT = "/v1/chat/completions"


@dataclass(frozen=True)
class Fault:
    """How to (mis)answer one request. Build with the class methods."""

    kind: str
    status: int = 200
    seconds: float = 0.0
    retry_after: str | None = None

    @classmethod
    def sleep(cls, seconds: float) -> Fault:
        """Answer normally, but only after ``seconds`` (past the client's timeout)."""
        return cls("sleep", seconds=seconds)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Answer normally after ``seconds``, counted in flight meanwhile (a slow model: requests overlap)."""
        return cls("delay", seconds=seconds)

    @classmethod
    def http(cls, status: int, retry_after: str | None = None) -> Fault:
        """An HTTP error status (429, 500, 503, ...) with an OpenAI-style error body, and ``Retry-After`` when given."""
        return cls("status", status=status, retry_after=retry_after)

    @classmethod
    def reset(cls) -> Fault:
        """Close the connection without answering (a TCP reset)."""
        return cls("reset")

    @classmethod
    def truncated_json(cls) -> Fault:
        """200 with a whole HTTP body (right ``Content-Length``) that is the first half of a JSON answer."""
        return cls("truncated_json")

    @classmethod
    def cut_body(cls) -> Fault:
        """200 announcing the whole answer's ``Content-Length``, then half of it, then a closed connection."""
        return cls("cut_body")

    @classmethod
    def empty_choices(cls) -> Fault:
        """200 with ``{"choices": []}``."""
        return cls("empty_choices")

    @classmethod
    def no_message(cls) -> Fault:
        """200 with a choice that has no message."""
        return cls("no_message")

    @classmethod
    def echo_key(cls, status: int = 401) -> Fault:
        """An error status whose body echoes the request's Authorization header and API key (as some servers do)."""
        return cls("echo_key", status=status)


class FaultServer(FakeServer):
    """``FakeServer`` with a script of faults for its POST requests."""

    def __init__(self) -> None:
        super().__init__()
        self.script: list[Fault | None] = []  # per request, in arrival order; None answers normally
        self.default: Fault | None = None  # once the script is spent
        self.paths = {CHAT}  # the POST paths faults apply to
        self.injected: list[str] = []  # the kinds injected, in order

    def next_fault(self, path: str) -> Fault | None:
        if path not in self.paths:
            return None
        fault = self.script.pop(0) if self.script else self.default
        if fault is not None and self.record:
            self.injected.append(fault.kind)
        return fault

    def inject(
        self, handler: BaseHTTPRequestHandler, fault: Any, body: dict[str, Any], leave: Callable[[], None]
    ) -> None:
        assert isinstance(fault, Fault)
        if fault.kind == "sleep":
            leave()  # the client gives up on it: not counted as in flight while it sleeps
            if self.stopping.wait(fault.seconds):
                return  # the server is shutting down
            _write(handler, 200, json.dumps(self.reply(body)).encode())
            return
        if fault.kind == "delay":
            self.stopping.wait(fault.seconds)
            leave()
            _write(handler, 200, json.dumps(self.reply(body)).encode())
            return
        leave()
        if fault.kind == "status":
            error = {"error": {"message": "injected fault", "type": "server_error", "code": fault.status}}
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            _write(handler, fault.status, json.dumps(error).encode(), headers)
        elif fault.kind == "reset":
            # SO_LINGER 0: closing sends a reset instead of an orderly end
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.close_connection = True
        elif fault.kind in ("truncated_json", "cut_body"):
            whole = json.dumps(self.reply(body)).encode()
            half = whole[: len(whole) // 2]
            if fault.kind == "truncated_json":
                _write(handler, 200, half)
            else:
                _write(handler, 200, half, length=len(whole))
                handler.close_connection = True
        elif fault.kind == "empty_choices":
            _write(handler, 200, json.dumps({"id": "x", "object": "chat.completion", "choices": []}).encode())
        elif fault.kind == "no_message":
            _write(handler, 200, json.dumps({"choices": [{"index": 0, "finish_reason": "stop"}]}).encode())
        elif fault.kind == "echo_key":
            auth = handler.headers.get("Authorization", "")
            key = auth.removeprefix("Bearer ")
            message = f"Incorrect API key provided: {key}. You can find your API key in your account."
            error = {"error": {"message": message, "api_key": key, "request_headers": {"Authorization": auth}}}
            text = json.dumps(error) + f"\nAuthorization: {auth}\nkey={key}"
            _write(handler, fault.status, text.encode())
        else:
            raise ValueError(f"unknown fault {fault.kind!r}")


def _write(
    handler: BaseHTTPRequestHandler,
    status: int,
    data: bytes,
    headers: dict[str, str] | None = None,
    length: int | None = None,
) -> None:
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data) if length is None else length))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)
    except OSError:
        pass  # the client went away (it timed out)


@contextmanager
def serve_faults() -> Iterator[FaultServer]:
    """A running fault server (``.url`` ends in ``/v1``), shut down on exit."""
    with serve(FaultServer()) as fake:
        assert isinstance(fake, FaultServer)
        yield fake


def main(argv: list[str] | None = None) -> None:
    """Serve until killed; print the URL on the first line of stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-record", action="store_true", help="keep counters only, not every request")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each chat answer waits (a slow model)")
    args = parser.parse_args(argv)
    fake = FaultServer()
    fake.record = not args.no_record
    if args.latency > 0:
        fake.default = Fault.delay(args.latency)
    with serve(fake):
        print(fake.url, flush=True)
        with suppress(KeyboardInterrupt):
            fake.stopping.wait()


if __name__ == "__main__":
    main()
