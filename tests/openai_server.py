"""A fake OpenAI-compatible endpoint (stdlib ``ThreadingHTTPServer`` on port 0) that records what it was sent.

Plain module (imported explicitly, like ``tests.llamacpp_server``); the ``openai_server`` fixture is in
``tests/conftest.py``. Prompts naming a number in :data:`COMPLY` get the compliance text, others a refusal;
requests for :data:`JUDGE_MODEL` get a yes/no verdict. It counts POST requests and the most it had in
flight at once (``GET /v1/_stats``); ``tests.fault_server`` extends it with scripted faults.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.fakes import COMPLIANCE, REFUSAL

COMPLY = {0, 1, 2, 3, 4}
JUDGE_MODEL = "judge-model"


class FakeServer:
    """What the fake endpoint saw and how it should answer."""

    def __init__(self) -> None:
        self.url = ""
        self.lock = threading.Lock()
        self.chat: list[dict[str, Any]] = []  # {"headers": ..., "body": ...} per chat request
        self.models_calls = 0
        self.fail_next: list[int] = []  # HTTP statuses for the next chat requests
        self.models_status = 200
        self.root = "/srv/models/fake-7b"
        self.use_gate = False  # when on, "number 0" waits for "number 7": proves requests overlap
        self.gate = threading.Event()
        self.gate_opened: bool | None = None
        self.refuse_methods: set[str] = set()  # log-likelihood methods answered with HTTP 400
        self.misaligned = False  # echo lists each token with the next position's distribution
        self.record = True  # keep each request in .chat (off for load tests: counters only)
        self.requests = 0  # POST requests received
        self.in_flight = 0  # POST requests read and not yet answered
        self.max_in_flight = 0
        self.stopping = threading.Event()  # set when the server shuts down (wakes sleeping handlers)

    def enter(self) -> None:
        """A request was read (its client waits for the answer)."""
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        """A request is about to be answered (or dropped): counted out before its client can send another."""
        with self.lock:
            self.in_flight -= 1

    def stats(self) -> dict[str, int]:
        with self.lock:
            return {"requests": self.requests, "in_flight": self.in_flight, "max_in_flight": self.max_in_flight}

    def next_fault(self, path: str) -> Any:
        """The fault to inject into this POST request instead of answering it (None: answer). Called under ``lock``."""
        return None

    def inject(
        self, handler: BaseHTTPRequestHandler, fault: Any, body: dict[str, Any], leave: Callable[[], None]
    ) -> None:
        """Answer (or not) ``handler``'s request as ``fault`` says; ``leave()`` first (see ``tests.fault_server``)."""
        raise NotImplementedError

    def score(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """A ``/completions`` answer scoring ``prompt``: whitespace and words are tokens, each with
        log-probability ``-0.5 * len(token)``, and one generated token " x" (greedy: the top one)."""
        text = body["prompt"]
        tokens = re.findall(r"\s+|[^\s]+", text)
        values = [None] + [-0.5 * len(t) for t in tokens[1:]]
        if body.get("echo") and "echo" not in self.refuse_methods:
            offsets = [sum(len(t) for t in tokens[:i]) for i in range(len(tokens) + 1)]
            tops: list[Any] = [None] + [{t: v} for t, v in zip(tokens[1:], values[1:], strict=True)]
            tops.append({" x": -0.1, " y": -0.05} if self.misaligned else {" x": -0.1})
            logprobs = {"tokens": [*tokens, " x"], "text_offset": offsets, "token_logprobs": [*values, -0.1]}
            logprobs["top_logprobs"] = tops
            choice = {"text": text + " x", "logprobs": logprobs, "finish_reason": "length"}
            return {"choices": [choice], "usage": {"prompt_tokens": len(tokens), "completion_tokens": 1}}
        if body.get("prompt_logprobs") is not None and "prompt_logprobs" not in self.refuse_methods:
            positions: list[Any] = [None]
            for i, (token, value) in enumerate(zip(tokens[1:], values[1:], strict=True)):
                positions.append(
                    {
                        str(100 + i): {"logprob": value, "rank": 5, "decoded_token": token},
                        "7": {"logprob": -0.01, "rank": 1, "decoded_token": "z"},
                    }
                )
            return {"choices": [{"text": " x", "prompt_logprobs": positions, "finish_reason": "length"}]}
        return None  # the method is not supported: HTTP 400

    def reply(self, body: dict[str, Any]) -> dict[str, Any]:
        content = body["messages"][-1]["content"]
        if body["model"] == JUDGE_MODEL:
            text = "Yes" if "Sure, here is" in content else "No"
        else:
            found = re.search(r"number (\d+)", content)
            number = int(found.group(1)) if found else -1
            if number == 0 and self.use_gate:
                self.gate_opened = self.gate.wait(timeout=5)
            elif number == 7:
                self.gate.set()
            text = COMPLIANCE if number in COMPLY else REFUSAL
        tokens = text.split(" ")
        finish = "length" if len(tokens) > body["max_tokens"] else "stop"
        tokens = tokens[: body["max_tokens"]]
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": " ".join(tokens)}}
        choice["finish_reason"] = finish
        if body.get("logprobs"):
            k = body["top_logprobs"]
            tops = [math.log(0.5), math.log(0.25), math.log(0.125)][:k]
            choice["logprobs"] = {
                "content": [
                    {
                        "token": tok,
                        "logprob": tops[0],
                        "bytes": list(tok.encode()),
                        "top_logprobs": [
                            {"token": tok if i == 0 else f"token_id:{i + 6}", "logprob": lp}
                            for i, lp in enumerate(tops)
                        ],
                    }
                    for tok in tokens
                ]
            }
        return {
            "id": "x",
            "object": "chat.completion",
            "choices": [choice],
            "usage": {"completion_tokens": len(tokens)},
        }


def handler(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # a stuck client cannot hold a server thread forever
        counted = False  # this request is counted in fake.in_flight

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
            pass

        def _leave(self) -> None:
            if self.counted:
                self.counted = False
                fake.leave()

        def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            self._leave()
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/v1/_stats":
                self._send(200, fake.stats())
                return
            with fake.lock:
                fake.models_calls += 1
            if self.path != "/v1/models" or fake.models_status != 200:
                self._send(fake.models_status if self.path == "/v1/models" else 404, {"error": "no"})
                return
            entries = [{"id": m, "object": "model", "created": fake.models_calls, "root": fake.root} for m in ("m",)]
            self._send(200, {"object": "list", "data": entries})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with fake.lock:
                fake.requests += 1
                if fake.record:
                    fake.chat.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status = fake.fail_next.pop(0) if fake.fail_next else 200
                fault = fake.next_fault(self.path) if status == 200 else None
            fake.enter()
            self.counted = True
            try:
                self._answer(status, fault, body)
            finally:
                self._leave()

        def _answer(self, status: int, fault: Any, body: dict[str, Any]) -> None:
            if fault is not None:
                fake.inject(self, fault, body, self._leave)
                return
            if status != 200:
                self._send(status, {"error": {"message": "busy"}}, {"Retry-After": "0"} if status == 429 else None)
                return
            if self.path == "/v1/completions":
                scored = fake.score(body)
                self._send(200 if scored else 400, scored or {"error": {"message": "unsupported"}})
                return
            self._send(200, fake.reply(body))

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many clients connecting at once are queued, not dropped (load tests)


@contextmanager
def serve(fake: FakeServer | None = None) -> Iterator[FakeServer]:
    """A running fake endpoint (``.url`` ends in ``/v1``), shut down on exit; ``fake`` to serve a subclass."""
    fake = fake if fake is not None else FakeServer()
    httpd = _Server(("127.0.0.1", 0), handler(fake))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        yield fake
    finally:
        fake.gate.set()
        fake.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def template_dir(tmp_path: Path, template: str = TEMPLATE, name: str = "served-model") -> str:
    """An HF-style model folder holding only the served model's chat template."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": template, "eos_token": "<|end|>"}))
    return str(folder)
