"""The OpenAI-compatible backend against a server that fails on purpose (``tests.fault_server``, real HTTP).

Each fault is a real exchange on 127.0.0.1: timeouts, 429 with ``Retry-After``, 500/503, reset
connections, truncated JSON, empty ``choices``, error bodies echoing the API key. What is guaranteed:
bounded retries, one-line errors naming the URL, the cause and the attempts, no key in any message,
no partial or empty completion in place of a failed one, and the chunks finished before a failure
kept in the run directory.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from tests.fakes import COMPLIANCE, REFUSAL, behaviors
from tests.fault_server import CHAT, Fault, FaultServer, serve_faults

from tunesafe._util.redact import forget_secrets, redact, register_secret
from tunesafe.backends import BackendError, http_client
from tunesafe.backends.http_client import retry_after_seconds
from tunesafe.backends.openai_compat import OpenAICompatBackend
from tunesafe.config import AuditConfig
from tunesafe.results import RunDir
from tunesafe.runner import run_audit
from tunesafe.types import GenParams

SECRET = "sk-fault-test-not-a-real-key-9137"


@pytest.fixture
def fake() -> Iterator[FaultServer]:
    """A fault server on a free local port, stopped after the test."""
    with serve_faults() as server:
        yield server


@pytest.fixture(autouse=True)
def _no_secrets() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


def _backend(fake: FaultServer, delays: list[float] | None = None, **kwargs: Any) -> OpenAICompatBackend:
    kwargs.setdefault("backoff_s", 0.01)
    kwargs.setdefault("timeout_s", 5)
    kwargs.setdefault("max_retries", 3)
    backend = OpenAICompatBackend(fake.url, "m", **kwargs)
    if delays is not None:
        backend._http.pause = lambda seconds, stop: delays.append(seconds)
    return backend


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _fails(backend: OpenAICompatBackend, n: int = 1) -> str:
    """The message of the error generating ``n`` conversations raises (and checks it is one line, unchained)."""
    with pytest.raises(BackendError) as err:
        backend.generate([_user(f"placeholder number {i}") for i in range(n)], GenParams())
    message = str(err.value)
    assert "\n" not in message and err.value.__cause__ is None
    return message


# -- each fault once, then an answer: retried ---------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault.http(500),
        Fault.http(503),
        Fault.http(429, retry_after="0"),
        Fault.reset(),
        Fault.truncated_json(),
        Fault.cut_body(),
        Fault.empty_choices(),
        Fault.no_message(),
    ],
    ids=lambda f: f.kind if f.kind != "status" else f"http{f.status}",
)
def test_a_transient_fault_is_retried_and_the_answer_is_whole(fake: FaultServer, fault: Fault) -> None:
    fake.script = [fault, fault]
    out = _backend(fake).generate([_user("placeholder number 1")], GenParams())
    assert [c.text for c in out] == [COMPLIANCE] and out[0].finish_reason == "stop"
    assert fake.requests == 3 and fake.injected == [fault.kind] * 2


def test_a_request_past_the_timeout_is_retried(fake: FaultServer) -> None:
    fake.script = [Fault.sleep(5)]
    out = _backend(fake, timeout_s=0.5).generate([_user("placeholder number 9")], GenParams())
    assert [c.text for c in out] == [REFUSAL] and fake.requests == 2


# -- persistent faults: bounded attempts, one line naming URL, cause and attempts -------------------


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        (Fault.http(503, retry_after="0"), "answered HTTP 503: "),
        (Fault.http(500), "answered HTTP 500: "),
        (Fault.reset(), "closed the connection without a whole answer"),
        (Fault.cut_body(), "closed the connection without a whole answer (IncompleteRead"),
        (Fault.truncated_json(), "answered truncated or invalid JSON: "),
        (Fault.empty_choices(), "answered a malformed response: no choices (choices: [])"),
        (Fault.no_message(), "answered a malformed response: the first choice has no message"),
    ],
    ids=["http503", "http500", "reset", "cut_body", "truncated_json", "empty_choices", "no_message"],
)
def test_a_persistent_fault_fails_after_the_bounded_attempts(fake: FaultServer, fault: Fault, cause: str) -> None:
    fake.default = fault
    message = _fails(_backend(fake, max_retries=2))
    url = f"{fake.url}/chat/completions"
    assert url in message and cause in message, message
    assert message.endswith("(after 3 attempts)") and fake.requests == 3


def test_a_persistent_timeout_names_the_timeout(fake: FaultServer) -> None:
    fake.default = Fault.sleep(10)
    message = _fails(_backend(fake, timeout_s=0.3, max_retries=1))
    assert message == f"{fake.url}/chat/completions gave no answer within 0.3 s (after 2 attempts)"
    assert fake.requests == 2


def test_a_client_error_is_not_retried(fake: FaultServer) -> None:
    fake.default = Fault.http(400)
    message = _fails(_backend(fake))
    assert message.startswith(f"{fake.url}/chat/completions answered HTTP 400: ")
    assert message.endswith("(after 1 attempt)") and fake.requests == 1


def test_a_failed_batch_returns_nothing_and_stops_the_other_requests(fake: FaultServer) -> None:
    fake.script = [None, None, Fault.http(400)]  # the third request fails for good at once
    fake.default = Fault.http(503)  # the others would back off for 30 s
    backend = _backend(fake, max_retries=3, max_concurrency=2, backoff_s=30.0)
    done = threading.Event()
    errors: list[str] = []

    def run() -> None:
        try:
            backend.generate([_user(f"placeholder number {i}") for i in range(6)], GenParams())
        except BackendError as err:
            errors.append(str(err))
        done.set()

    thread = threading.Thread(target=run)
    thread.start()
    assert done.wait(20), "a failed batch kept waiting on its other requests' backoff"
    thread.join()
    assert len(errors) == 1 and "HTTP 400" in errors[0]
    # of 6 prompts x 4 attempts: the two answered, the failed one, at most one in flight then (not retried)
    assert fake.requests in (3, 4)


# -- Retry-After and backoff ------------------------------------------------------------------------


def test_retry_after_is_honoured_over_the_backoff(fake: FaultServer) -> None:
    delays: list[float] = []
    fake.script = [Fault.http(429, retry_after="0"), Fault.http(503, retry_after="2"), Fault.http(429, "3600")]
    out = _backend(fake, delays, backoff_s=5.0).generate([_user("placeholder number 2")], GenParams())
    assert out[0].text == COMPLIANCE and fake.requests == 4
    assert delays == [0.0, 2.0, 60.0]  # not the 5, 10, 20 s backoff; a long Retry-After capped at 60 s


def test_without_retry_after_the_backoff_doubles_up_to_its_cap(fake: FaultServer) -> None:
    delays: list[float] = []
    fake.default = Fault.http(503)
    _fails(_backend(fake, delays, backoff_s=8.0, max_retries=4))
    assert delays == [8.0, 16.0, 30.0, 30.0] and fake.requests == 5


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    later = (now + timedelta(seconds=7)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert retry_after_seconds(later, now=now) == 7.0
    assert retry_after_seconds("Mon, 01 Jan 2024 00:00:00 GMT", now=now) == 0.0  # in the past: at once
    assert retry_after_seconds(" 1.5 ") == 1.5 and retry_after_seconds("-3") == 0.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


# -- secrets ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 400])
def test_an_error_body_echoing_the_key_does_not_reach_the_message(
    fake: FaultServer, status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNESAFE_FAULT_KEY", SECRET)
    fake.default = Fault.echo_key(status)
    message = _fails(_backend(fake, api_key_env="TUNESAFE_FAULT_KEY"))
    assert fake.chat[0]["headers"]["Authorization"] == f"Bearer {SECRET}"  # the key was sent ...
    assert SECRET not in message and SECRET[:12] not in message and SECRET[-8:] not in message  # ... never shown
    assert f"answered HTTP {status}: " in message and "Incorrect API key provided: ***" in message
    assert "(after 1 attempt)" in message


def test_a_key_echoed_by_a_retried_status_is_redacted_too(fake: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNESAFE_FAULT_KEY", SECRET)
    fake.default = Fault.echo_key(503)
    message = _fails(_backend(fake, api_key_env="TUNESAFE_FAULT_KEY", max_retries=1))
    assert SECRET not in message and "(after 2 attempts)" in message and fake.requests == 2


def test_a_key_echoed_on_the_models_route_does_not_reach_the_message(
    fake: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNESAFE_FAULT_KEY", SECRET)
    fake.models_status = 401
    with pytest.raises(BackendError, match=re.escape(f"{fake.url}/models answered HTTP 401")) as err:
        _backend(fake, api_key_env="TUNESAFE_FAULT_KEY").fingerprint()
    assert SECRET not in str(err.value)


def test_redact_masks_registered_secrets_and_credential_patterns() -> None:
    register_secret("sk-live-abcdef123456")
    register_secret("abc")  # too short to mask
    register_secret("")
    assert redact("bad key sk-live-abcdef123456 given") == "bad key *** given"
    assert redact("abc stays") == "abc stays"
    assert redact("Authorization: Bearer eyJhbGciOi.x.y\nnext line") == "Authorization: ***\nnext line"
    assert redact('{"Authorization": "Token t0k3n-value", "x": 1}') == '{"Authorization": "***", "x": 1}'
    assert redact("headers={'authorization': 'Basic dXNlcjpwYXNz'}") == "headers={'authorization': '***'}"
    assert redact("sent bearer abc.DEF-123_x; then") == "sent bearer ***; then"
    assert redact('{"api_key": "k-123456", "api-key": "k2", "x-api-key": "k3"}') == (
        '{"api_key": "***", "api-key": "***", "x-api-key": "***"}'
    )
    assert redact("OPENAI_API_KEY=sk-other-value rest") == "OPENAI_API_KEY=*** rest"
    assert redact("https://h/v1?apiKey=zzz123&model=m") == "https://h/v1?apiKey=***&model=m"
    assert redact("api_key_env: MY_KEY_VAR") == "api_key_env: MY_KEY_VAR"  # the variable's name is no secret
    assert redact("authorization failed; no credentials") == "authorization failed; no credentials"
    assert redact(redact("Authorization: Bearer x")) == "Authorization: ***"


def test_redact_masks_the_longer_of_overlapping_secrets_whole() -> None:
    register_secret("token-1234")
    register_secret("token-1234-extended")
    assert redact("a token-1234-extended b token-1234") == "a *** b ***"


# -- the runner: finished chunks kept, nothing unanswered scored ------------------------------------


def _config(fake: FaultServer, tmp_path: Path, **endpoint: Any) -> AuditConfig:
    return AuditConfig.model_validate(
        {
            "name": "faults",
            "model": {"backend": "openai", "endpoint": {"base_url": fake.url, "model": "m", **endpoint}},
            "audits": {"harmful": {"judges": ["keyword-extended"]}, "overrefusal": None},
            "cache": {"mode": "off"},
            "chunk_size": 2,
            "generation": {"max_new_tokens": 16},
        }
    )


@pytest.mark.parametrize(
    "fault",
    [Fault.http(503, retry_after="0"), Fault.empty_choices(), Fault.truncated_json(), Fault.reset()],
    ids=lambda f: f.kind,
)
def test_a_failure_in_a_later_chunk_keeps_the_earlier_chunks_records(
    fake: FaultServer, fault: Fault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    delays: list[float] = []
    monkeypatch.setattr(http_client, "pause", lambda seconds, stop: delays.append(seconds))  # no real waiting
    config = _config(fake, tmp_path, max_concurrency=1, max_retries=2)
    fake.script = [None, None]  # the first chunk (2 prompts) is answered
    fake.default = fault  # then every request fails
    with pytest.raises(BackendError) as err:
        run_audit(config, tmp_path / "run", behaviors=behaviors(6))
    assert fake.requests == 2 + 3  # the second chunk's first prompt, three attempts; its second not sent
    run = RunDir(tmp_path / "run")
    kept = list(run.records("harmful"))
    assert [r.sample_id for r in kept] == ["b00", "b01"]
    assert [r.completion.text for r in kept] == [COMPLIANCE, COMPLIANCE]  # nothing empty, nothing partial
    manifest = run.manifest()
    assert manifest.status == "error" and manifest.error is not None and "\n" not in manifest.error
    assert f"{fake.url}/chat/completions" in manifest.error and "(after 3 attempts)" in manifest.error
    assert str(err.value) in manifest.error
    assert delays == ([0.0, 0.0] if fault.retry_after == "0" else [1.0, 2.0])  # Retry-After, else the backoff

    fake.default = None  # the server recovers: resuming asks only for what is missing
    before = fake.requests
    run_audit(config, tmp_path / "run", behaviors=behaviors(6))  # the same run directory
    records = list(run.records("harmful"))
    assert sorted(r.sample_id for r in records) == [f"b{i:02d}" for i in range(6)]  # each exactly once
    assert fake.requests - before == 4 and run.manifest().status == "success"
    assert all(r.completion.text in (COMPLIANCE, REFUSAL) for r in records)


def test_concurrency_bounds_the_requests_in_flight_and_every_prompt_gets_one_record(
    fake: FaultServer, tmp_path: Path
) -> None:
    fake.default = Fault.delay(0.005)  # a slow model: requests overlap whenever they can
    config = _config(fake, tmp_path, max_concurrency=4).model_copy(update={"chunk_size": 50})
    run = run_audit(config, tmp_path / "run", behaviors=behaviors(300))
    assert 2 <= fake.max_in_flight <= 4, fake.max_in_flight
    assert fake.requests == 300 and fake.in_flight == 0
    ids = [r.sample_id for r in run.records("harmful")]
    assert len(ids) == 300 and len(set(ids)) == 300
    asked = [r["body"]["messages"][-1]["content"] for r in fake.chat if r["path"] == CHAT]
    assert len(set(asked)) == 300  # no prompt asked twice
