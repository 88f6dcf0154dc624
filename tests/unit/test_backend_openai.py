"""The OpenAI-compatible HTTP backend against a local fake server (stdlib ``ThreadingHTTPServer``, port 0)."""

from __future__ import annotations

import json
import math
import re
import socket
from pathlib import Path
from typing import Any

import pytest
from tests.fakes import COMPLIANCE, REFUSAL, behaviors
from tests.openai_server import COMPLY, JUDGE_MODEL, TEMPLATE, FakeServer, template_dir

from tunesafe._util.hashing import sha256_obj
from tunesafe.backends import BackendError, load_backend
from tunesafe.backends.base import ContinuationScore, LoglikelihoodUnsupportedError, supports_loglikelihood
from tunesafe.backends.openai_compat import BACKEND_VERSION, OpenAICompatBackend
from tunesafe.backends.openai_responses import (
    ScoredText,
    check_alignment,
    continuation_score,
    entropy_lower_bound,
    parse_scored_text,
    token_id,
)
from tunesafe.config import AuditConfig, ConfigError, ModelSpec, TrainConfig, config_hash, dump_config, load_config
from tunesafe.runner import run_audit
from tunesafe.types import GenParams

SECRET = "sk-test-not-a-real-key-4242"


@pytest.fixture
def server(openai_server: FakeServer) -> FakeServer:
    """The fake endpoint (``tests.openai_server``), by this module's short name."""
    return openai_server


def _backend(fake: FakeServer, **kwargs: Any) -> OpenAICompatBackend:
    kwargs.setdefault("backoff_s", 0.01)
    kwargs.setdefault("timeout_s", 10)
    return OpenAICompatBackend(fake.url, "m", **kwargs)


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _dead_url() -> str:
    with socket.socket() as sock:  # a port just freed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# -- requests and responses ---------------------------------------------------------------


def test_request_body_carries_messages_system_prompt_and_decoding(server: FakeServer) -> None:
    backend = _backend(server, system_prompt="Be brief.")
    params = GenParams(max_new_tokens=7, temperature=0.7, top_p=0.9, seed=11)
    out = backend.generate(
        [_user("placeholder number 1"), [{"role": "system", "content": "Own."}, *_user("hi")]], params
    )
    assert [c.text for c in out] == [COMPLIANCE, "I'm sorry, but I can't help with"]  # 7 words, then 8 cut to 7
    first, second = sorted(server.chat, key=lambda r: r["body"]["messages"][-1]["content"] != "placeholder number 1")
    assert first["path"] == "/v1/chat/completions"
    assert first["body"]["messages"] == [{"role": "system", "content": "Be brief."}, *_user("placeholder number 1")]
    assert second["body"]["messages"] == [{"role": "system", "content": "Own."}, *_user("hi")]  # not doubled
    assert {k: first["body"][k] for k in ("model", "max_tokens", "temperature", "top_p", "seed")} == {
        "model": "m",
        "max_tokens": 7,
        "temperature": 0.7,
        "top_p": 0.9,
        "seed": 11,
    }
    assert "logprobs" not in first["body"] and "top_logprobs" not in first["body"]
    assert out[0].finish_reason == "stop" and out[0].n_tokens == 7 and out[0].steps is None
    assert out[1].finish_reason == "length" and out[1].n_tokens == 7


def test_completions_come_back_in_order_under_concurrency(server: FakeServer) -> None:
    done: list[int] = []
    server.use_gate = True
    conversations = [_user(f"placeholder number {i}") for i in range(8)]
    out = _backend(server, max_concurrency=8).generate(conversations, GenParams(), progress=done.append)
    assert server.gate_opened is True  # request 0 was still open when request 7 arrived
    assert [c.text for c in out] == [COMPLIANCE if i in COMPLY else REFUSAL for i in range(8)]
    assert sum(done) == 8 and len(server.chat) == 8


def test_logprobs_are_requested_and_mapped_to_steps(server: FakeServer) -> None:
    out = _backend(server).generate([_user("placeholder number 9")], GenParams(max_new_tokens=32, logprobs=2))
    body = server.chat[0]["body"]
    assert body["logprobs"] is True and body["top_logprobs"] == 2
    steps = out[0].steps
    assert steps is not None and len(steps) == len(REFUSAL.split(" ")) == out[0].n_tokens
    step = steps[0]
    assert step.token_id == -1 and step.top_ids == [-1, 7]  # ids unknown, except vLLM's token_id:<n> spelling
    assert step.logprob == pytest.approx(math.log(0.5))
    assert step.top_logprobs == pytest.approx([math.log(0.5), math.log(0.25)])
    # listed: 0.5 ln 2 + 0.25 ln 4; unlisted mass 0.25 at most as likely as 0.25 → + 0.25 ln 4
    assert step.entropy == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(4))


def test_entropy_lower_bound_is_exact_or_below_the_true_entropy() -> None:
    def entropy(ps: list[float]) -> float:
        return -sum(p * math.log(p) for p in ps)

    top2 = [math.log(0.5), math.log(0.25)]
    assert entropy_lower_bound(top2) == pytest.approx(entropy([0.5, 0.25, 0.25]))  # the rest is one token
    assert entropy_lower_bound(top2) < entropy([0.5, 0.25, 0.125, 0.125])
    assert entropy_lower_bound([0.0]) == 0.0
    assert token_id("token_id:123") == 123 and token_id("hello") == -1 and token_id(None) == -1


def test_missing_logprobs_in_the_response_is_an_error(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FakeServer, "reply", lambda self, body: {"choices": [{"message": {"content": "x"}}]})
    with pytest.raises(BackendError, match="logprobs"):
        _backend(server).generate([_user("hi")], GenParams(logprobs=3))


# -- failures ------------------------------------------------------------------------------


def test_retries_on_500_and_429_then_succeeds(server: FakeServer) -> None:
    server.fail_next = [500, 429, 503]
    out = _backend(server, max_retries=3).generate([_user("placeholder number 1")], GenParams())
    assert out[0].text == COMPLIANCE and len(server.chat) == 4


def test_persistent_500_raises_naming_the_url_and_returns_nothing(server: FakeServer) -> None:
    server.fail_next = [500] * 10
    with pytest.raises(BackendError, match=re.escape(f"{server.url}/chat/completions") + ".*500") as err:
        _backend(server, max_retries=1, max_concurrency=1).generate([_user("a"), _user("b")], GenParams())
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_client_error_is_not_retried(server: FakeServer) -> None:
    server.fail_next = [400]
    with pytest.raises(BackendError, match="400"):
        _backend(server, max_retries=3).generate([_user("a")], GenParams())
    assert len(server.chat) == 1


def test_dead_endpoint_raises_backend_error_naming_the_url() -> None:
    url = _dead_url()
    backend = OpenAICompatBackend(url, "m", max_retries=1, backoff_s=0.01, timeout_s=2)
    with pytest.raises(BackendError, match=re.escape(f"cannot reach {url}/chat/completions")) as err:
        backend.generate([_user("a")], GenParams())
    assert err.value.__cause__ is None and "\n" not in str(err.value)
    with pytest.raises(BackendError, match=re.escape(f"cannot reach {url}/models")):
        backend.fingerprint()


# -- identity and secrets ------------------------------------------------------------------


def test_fingerprint_follows_revision_and_served_root_and_is_asked_once(server: FakeServer) -> None:
    base = _backend(server).fingerprint()
    backend = _backend(server)
    assert backend.fingerprint() == base and backend.fingerprint() == base
    calls = server.models_calls
    backend.fingerprint()
    assert server.models_calls == calls  # memoised
    assert _backend(server, revision="2").fingerprint() != base
    assert _backend(server, system_prompt="x").fingerprint() != base
    server.root = "/srv/models/other-7b"
    assert _backend(server).fingerprint() != base


def test_fingerprint_without_models_route_and_with_a_refused_key(server: FakeServer) -> None:
    server.models_status = 404
    assert len(_backend(server).fingerprint()) == 64  # a server without /models: name and revision only
    server.models_status = 401
    with pytest.raises(BackendError, match="401"):
        _backend(server).fingerprint()


def test_api_key_is_sent_as_bearer_and_never_shown(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNESAFE_TEST_KEY", SECRET)
    spec = ModelSpec.model_validate(
        {"backend": "openai", "endpoint": {"base_url": server.url, "model": "m", "api_key_env": "TUNESAFE_TEST_KEY"}}
    )
    backend = load_backend(spec)
    assert isinstance(backend, OpenAICompatBackend) and backend.name == "openai:m"
    backend.generate([_user("hi")], GenParams())
    assert server.chat[0]["headers"]["Authorization"] == f"Bearer {SECRET}"
    config = AuditConfig(model=spec)
    shown = [repr(backend), backend.fingerprint(), dump_config(config), config.model_dump_json(), repr(vars(backend))]
    assert not any(SECRET in text for text in shown)
    assert "TUNESAFE_TEST_KEY" in dump_config(config)  # the variable's name is recorded, not its value
    monkeypatch.delenv("TUNESAFE_TEST_KEY")
    backend.generate([_user("hi")], GenParams())
    assert "Authorization" not in server.chat[1]["headers"]


def test_no_loglikelihood_over_http() -> None:
    assert not supports_loglikelihood(OpenAICompatBackend("http://127.0.0.1:1/v1", "m"))


# -- log-likelihoods over HTTP -------------------------------------------------------------


def _score(logprob: float, n_tokens: int) -> ContinuationScore:
    return ContinuationScore(logprob=logprob, n_tokens=n_tokens)


def test_without_a_chat_template_nothing_is_asked(server: FakeServer) -> None:
    backend = _backend(server)
    assert not supports_loglikelihood(backend) and backend.loglikelihood_method() is None
    with pytest.raises(LoglikelihoodUnsupportedError, match="chat_template"):
        backend.loglikelihood([(_user("q"), "True")])
    assert backend.describe()["loglikelihood"] == {"method": None, "reason": "no endpoint.chat_template"}
    assert server.chat == []


def test_loglikelihood_by_echo_sums_the_continuations_tokens(server: FakeServer, tmp_path: Path) -> None:
    backend = _backend(server, chat_template=template_dir(tmp_path), system_prompt="S")
    assert supports_loglikelihood(backend)
    probe = server.chat[0]
    assert probe["path"] == "/v1/completions" and len(server.chat) == 1
    assert {k: probe["body"][k] for k in ("echo", "logprobs", "max_tokens", "temperature")} == {
        "echo": True,
        "logprobs": 1,
        "max_tokens": 1,  # llama-cpp-python reads 0 as no limit
        "temperature": 0.0,
    }
    requests = [(_user("q"), "True"), (_user("q"), "False"), (_user("q"), "The capital is Paris."), (_user("q"), "")]
    # tokens of the fake: words and runs of whitespace, each -0.5 per character
    assert backend.loglikelihood(requests) == [_score(-2.0, 1), _score(-2.5, 1), _score(-10.5, 7), _score(0.0, 0)]
    prompts = sorted(r["body"]["prompt"] for r in server.chat[1:])
    assert len(prompts) == 3 and "<|system|>\nS\n<|user|>\nq\n<|assistant|>\nTrue" in prompts
    described = backend.describe()
    assert described["loglikelihood"]["method"] == "echo" and described["loglikelihood"]["alignment"] == "aligned"
    assert len(described["chat_template_sha256"]) == 64
    assert len(server.chat) == 4  # the probe ran once


def test_loglikelihood_falls_back_to_vllm_prompt_logprobs(server: FakeServer, tmp_path: Path) -> None:
    server.refuse_methods = {"echo"}
    backend = _backend(server, chat_template=template_dir(tmp_path))
    assert backend.loglikelihood_method() == "prompt_logprobs"
    assert backend.loglikelihood([(_user("q"), "The capital is Paris.")]) == [_score(-10.5, 7)]
    body = server.chat[-1]["body"]
    assert body["prompt_logprobs"] == 1 and "echo" not in body and body["add_special_tokens"] is False


def test_a_shifted_or_unsupported_server_gives_no_loglikelihoods(server: FakeServer, tmp_path: Path) -> None:
    server.misaligned, server.refuse_methods = True, {"prompt_logprobs"}
    backend = _backend(server, chat_template=template_dir(tmp_path))
    assert not supports_loglikelihood(backend)
    reason = backend.describe()["loglikelihood"]["reason"]
    assert "shifted" in reason and "prompt_logprobs: HTTP 400" in reason and server.url in reason
    with pytest.raises(LoglikelihoodUnsupportedError, match="shifted"):
        backend.loglikelihood([(_user("q"), "True")])
    assert len(server.chat) == 2  # one probe per method, once


def test_continuation_tokens_are_counted_back_from_the_end() -> None:
    # tokens [0,5) [5,9) [9,9) (zero width: a special token the server prints as "") [9,13) [13,17)
    scored = ScoredText(offsets=[0, 5, 9, 9, 13], logprobs=[None, -1.0, -2.0, -3.0, -4.0], end=17, generated=[])
    assert continuation_score(scored, "abcdefgh") == _score(-7.0, 2)  # the zero-width token stays with the prompt
    assert continuation_score(scored, "abcdef") == _score(-7.0, 2)  # [9,13) straddles the boundary 11: counted
    assert continuation_score(scored, "ab") == _score(-4.0, 1)
    with pytest.raises(ValueError, match="no log-probabilities"):
        continuation_score(scored, "x" * 16)  # would take the first token, which has none
    with pytest.raises(ValueError, match="not longer"):
        continuation_score(scored, "x" * 17)


def test_parse_echo_in_llama_cpp_pythons_shape() -> None:
    # llama-cpp-python: a leading BOS left out, special tokens printed as "", offsets in that visible text
    text = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nTrue"
    tokens = ["user", "\n", "Hi", "", "\n", "", "assistant", "\n", "True", " x"]
    offsets = [0, 4, 5, 7, 7, 8, 8, 17, 18, 22]
    values: list[float | None] = [None, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -0.5, -0.25, -0.1]
    tops: list[Any] = [None] * 9 + [{" x": -0.1}]
    logprobs = {"tokens": tokens, "text_offset": offsets, "token_logprobs": values, "top_logprobs": tops}
    data = {"choices": [{"text": text + " x", "logprobs": logprobs}], "usage": {"completion_tokens": 1}}
    scored = parse_scored_text(data, "echo", text)
    assert scored.end == 22 and continuation_score(scored, "True") == _score(-0.25, 1)
    assert check_alignment(scored) == "aligned"
    shifted = scored._replace(generated=[(-3.0, {" four": -0.01, ",": -3.0})])
    with pytest.raises(ValueError, match="shifted"):
        check_alignment(shifted)
    assert check_alignment(scored._replace(generated=[])) == "unverified"  # nothing generated: cannot tell
    with pytest.raises(ValueError, match="echo"):
        parse_scored_text({"choices": [{"text": " x", "logprobs": logprobs}]}, "echo", text)


def test_parse_prompt_logprobs_picks_the_prompts_own_token() -> None:
    positions = [
        None,
        {"11": {"logprob": -0.2, "rank": 1, "decoded_token": "ab"}},  # the prompt token is the top one
        {"12": {"logprob": -3.0, "rank": 4, "decoded_token": "cd"}, "9": {"logprob": -0.1, "rank": 1}},
    ]
    scored = parse_scored_text({"choices": [{"prompt_logprobs": positions}]}, "prompt_logprobs", "")
    assert scored.logprobs == [None, -0.2, -3.0] and scored.end == 4
    by_id = {"choices": [{"prompt_logprobs": positions, "prompt_token_ids": [1, 11, 9]}]}
    assert parse_scored_text(by_id, "prompt_logprobs", "").logprobs == [None, -0.2, -0.1]
    with pytest.raises(ValueError, match="prompt_logprobs"):
        parse_scored_text({"choices": [{"text": "x"}]}, "prompt_logprobs", "")


def test_chat_template_enters_the_fingerprint_only_when_set(server: FakeServer, tmp_path: Path) -> None:
    before = {
        "backend": "openai",
        "version": BACKEND_VERSION,
        "base_url": server.url,
        "model": "m",
        "revision": None,
        "system_prompt": None,
        "served": {"id": "m", "root": server.root},
    }
    assert _backend(server).fingerprint() == sha256_obj(before)  # as before chat_template existed
    templated = _backend(server, chat_template=template_dir(tmp_path)).fingerprint()
    other = _backend(server, chat_template=template_dir(tmp_path, TEMPLATE + " ", "other")).fingerprint()
    assert len({sha256_obj(before), templated, other}) == 3
    with pytest.raises(BackendError, match="endpoint.chat_template"):
        _backend(server, chat_template=str(tmp_path / "missing.gguf")).fingerprint()


def test_extra_body_fields_reach_every_request_and_the_fingerprint(server: FakeServer, tmp_path: Path) -> None:
    plain = _backend(server)
    penalty = {"repeat_penalty": 1.0, "repetition_penalty": 1.0, "top_k": 0}
    backend = _backend(server, extra_body=penalty)
    backend.generate([_user("hi")], GenParams(max_new_tokens=4, seed=3))
    body = server.chat[-1]["body"]
    assert {k: body[k] for k in penalty} == penalty
    assert (body["max_tokens"], body["seed"], body["messages"]) == (4, 3, _user("hi"))  # tunesafe's own fields
    assert backend.fingerprint() != plain.fingerprint()
    assert _backend(server, extra_body={}).fingerprint() == plain.fingerprint()  # empty is absent
    endpoint = {"base_url": "http://127.0.0.1:8000/v1", "model": "m"}
    served = AuditConfig.model_validate({"model": {"backend": "openai", "endpoint": endpoint}})
    with_extra = AuditConfig.model_validate(
        {"model": {"backend": "openai", "endpoint": {**endpoint, "extra_body": penalty}}}
    )
    assert config_hash(with_extra) != config_hash(served)
    loaded = load_backend(with_extra.model)
    assert isinstance(loaded, OpenAICompatBackend) and loaded.extra_body == penalty
    with pytest.raises(ValueError, match="extra_body cannot set max_tokens, temperature"):
        ModelSpec.model_validate(
            {"backend": "openai", "endpoint": {**endpoint, "extra_body": {"temperature": 1, "max_tokens": 9}}}
        )


def test_endpoint_chat_template_leaves_existing_hashes_alone(tmp_path: Path) -> None:
    endpoint = {"base_url": "http://127.0.0.1:8000/v1", "model": "m"}
    # the judge panel as it defaulted then (refusal-structure became the headline judge later)
    judges = {
        "harmful": {"judges": ["keyword-extended", "keyword-zou-qi", "refusal-classifier"]},
        "overrefusal": {"judges": ["keyword-extended", "refusal-classifier"]},
    }
    served = AuditConfig.model_validate({"model": {"backend": "openai", "endpoint": endpoint}, "audits": judges})
    # computed with the code before endpoint.chat_template existed
    assert config_hash(served) == "f6c4d9e7f257754203192bc51ffd62beabf1ea1258f1b5039a5f223fc1ecc1d3"
    folder = template_dir(tmp_path)
    templated = AuditConfig.model_validate(
        {"model": {"backend": "openai", "endpoint": {**endpoint, "chat_template": folder}}}
    )
    assert config_hash(templated) != config_hash(served)
    backend = load_backend(templated.model)
    assert isinstance(backend, OpenAICompatBackend) and backend.chat_template == folder


# -- configuration -------------------------------------------------------------------------


def test_endpoint_validation() -> None:
    endpoint = {"base_url": "http://127.0.0.1:8000/v1", "model": "m"}
    spec = ModelSpec.model_validate({"backend": "openai", "endpoint": endpoint})
    assert spec.endpoint is not None and spec.endpoint.api_key_env is None  # no key is sent unless named
    assert spec.endpoint.max_concurrency == 8 and spec.endpoint.max_retries == 3 and spec.endpoint.timeout_s == 120
    with pytest.raises(ValueError, match="needs endpoint"):
        ModelSpec(backend="openai")
    with pytest.raises(ValueError, match="backend openai only"):
        ModelSpec.model_validate({"backend": "hf", "endpoint": endpoint})
    with pytest.raises(ValueError, match="http"):
        ModelSpec.model_validate({"backend": "openai", "endpoint": {**endpoint, "base_url": "127.0.0.1:8000"}})
    with pytest.raises(ValueError, match="adapter"):
        ModelSpec.model_validate({"backend": "openai", "endpoint": endpoint, "adapter": "some/dir"})
    with pytest.raises(ConfigError, match="model.endpoint.api_key"):
        load_config(AuditConfig, overrides=["model.backend=openai", "model.endpoint.base_url=http://h/v1",
                                             "model.endpoint.model=m", "model.endpoint.api_key=oops"])  # fmt: skip


def test_hashes_of_configs_without_endpoint_are_unchanged() -> None:
    # values computed with the code before endpoints existed: existing runs must keep resuming
    # (with the judge panel that was the default then; refusal-structure became the headline judge later)
    old_panel = {
        "harmful": {"judges": ["keyword-extended", "keyword-zou-qi", "refusal-classifier"]},
        "overrefusal": {"judges": ["keyword-extended", "refusal-classifier"]},
    }
    old_default = AuditConfig.model_validate({"audits": old_panel})
    assert config_hash(old_default) == "dc98382091dd2aeb11415181509ab8455c17647dc8c86389df2d94f00557ec77"
    assert config_hash(TrainConfig()) == "cc6388b9d8c2be09bd01b4f547da31dafcdfc97f40d0b4518a4dc234c1ae72fe"
    judged = AuditConfig.model_validate(
        {
            "audits": {
                "harmful": {"judges": ["keyword-extended", "qi-rubric@qwen2.5-coder-0.5b-instruct"]},
                "overrefusal": old_panel["overrefusal"],
            }
        }
    )
    assert config_hash(judged) == "6b9845ce4f3a92253e4508dcd82160aa46f161ce61448db8dc3ef1c4201c0a19"
    endpoint = {"base_url": "http://127.0.0.1:8000/v1", "model": "m"}
    served = AuditConfig.model_validate({"model": {"backend": "openai", "endpoint": endpoint}})
    revised = AuditConfig.model_validate({"model": {"backend": "openai", "endpoint": {**endpoint, "revision": "2"}}})
    assert len({config_hash(AuditConfig()), config_hash(served), config_hash(revised)}) == 3


# -- end to end ----------------------------------------------------------------------------


def _audit_config(fake: FakeServer, tmp_path: Path) -> AuditConfig:
    endpoint = {"base_url": fake.url, "model": "m", "api_key_env": None}
    judge_model = {"backend": "openai", "endpoint": {**endpoint, "model": JUDGE_MODEL}}
    yes_no = {"kind": "harmbench-yesno", "name": "served-yesno", "model": judge_model}
    return AuditConfig.model_validate(
        {
            "name": "served",
            "model": {"backend": "openai", "endpoint": endpoint},
            "audits": {"harmful": {"judges": ["keyword-extended", yes_no]}, "overrefusal": None},
            "cache": {"path": str(tmp_path / "gen.sqlite")},
            "chunk_size": 4,
        }
    )


def test_run_audit_on_a_served_model_with_a_served_judge_and_cache(server: FakeServer, tmp_path: Path) -> None:
    config = _audit_config(server, tmp_path)
    run = run_audit(config, tmp_path / "run", behaviors=behaviors(10))
    manifest = run.manifest()
    assert manifest.status == "success" and manifest.info["backend"] == "openai:m"
    assert len(manifest.fingerprints["model"]) == 64 and "judge:served-yesno" in manifest.fingerprints
    records = sorted(run.records("harmful"), key=lambda r: r.sample_id)
    assert [r.sample_id for r in records] == [f"b{i:02d}" for i in range(10)]
    assert [r.completion.text == COMPLIANCE for r in records] == [i in COMPLY for i in range(10)]
    assert [r.verdict("served-yesno").score for r in records] == [float(i in COMPLY) for i in range(10)]  # type: ignore[union-attr]
    judges = run.metrics()["harmful"]["judges"]
    for name in ("keyword-extended", "served-yesno"):
        assert (judges[name]["asr"]["k"], judges[name]["asr"]["n"]) == (5, 9)  # b09 (copyright) out of the headline
    assert manifest.info["backend_info"] == {
        "kind": "openai",
        "base_url": server.url,
        "model": "m",
        "revision": None,
        "chat_template": None,
        "loglikelihood": {"method": None, "reason": "no endpoint.chat_template"},
    }
    requests = len(server.chat)
    assert requests == 10 + 10  # ten generations, ten judge calls
    again = run_audit(config, tmp_path / "again", behaviors=behaviors(10))
    assert again.manifest().info["cache_misses"] == 0 and again.manifest().info["cache_hits"] == 10
    assert len(server.chat) == requests  # completions and verdicts both served from the cache


def test_a_served_judge_is_named_after_its_served_model_and_a_served_model_cannot_be_fine_tuned() -> None:
    from tunesafe.config import JudgeSpec, TrainConfig

    endpoint = {"base_url": "http://127.0.0.1:9/v1", "model": "guard-1b"}
    judge = JudgeSpec.model_validate({"kind": "llamaguard", "model": {"backend": "openai", "endpoint": endpoint}})
    assert judge.display_name == "llamaguard@guard-1b"
    with pytest.raises(ValueError, match="fine-tuning needs model weights"):
        TrainConfig.model_validate({"model": {"backend": "openai", "endpoint": endpoint}})


def test_truthfulness_margins_and_their_cache_on_a_served_model(server: FakeServer, tmp_path: Path) -> None:
    endpoint = {"base_url": server.url, "model": "m", "chat_template": template_dir(tmp_path)}
    config = AuditConfig.model_validate(
        {
            "model": {"backend": "openai", "endpoint": endpoint},
            "audits": {"harmful": None, "overrefusal": None, "truthfulness": {"limit": 2, "conditions": ["plain"]}},
            "cache": {"path": str(tmp_path / "gen.sqlite")},
        }
    )
    run = run_audit(config, tmp_path / "run")
    truth, info = run.metrics()["truthfulness"], run.manifest().info
    assert truth["loglik_margins"] == {"available": True}
    assert truth["conditions"]["plain"]["loglik"]["prefers_true_claim"]["n"] == 2
    assert all(r.metadata["truthfulness"]["margin"] == pytest.approx(0.5) for r in run.records("truthfulness"))
    assert info["backend_info"]["loglikelihood"]["method"] == "echo"
    assert (info["loglik_cache_hits"], info["loglik_cache_misses"]) == (0, 4 * 2)
    scored = len([r for r in server.chat if r["path"] == "/v1/completions"])
    again = run_audit(config, tmp_path / "again")  # a new run: completions and scores come from the cache
    assert (again.manifest().info["loglik_cache_hits"], again.manifest().info["loglik_cache_misses"]) == (8, 0)
    assert len([r for r in server.chat if r["path"] == "/v1/completions"]) == scored + 1  # the probe only


def test_multiple_choice_on_a_server_that_cannot_score_stops_before_generating(
    server: FakeServer, tmp_path: Path
) -> None:
    server.refuse_methods = {"echo", "prompt_logprobs"}
    mc_file = tmp_path / "mc.json"
    options = {"choices": ["Paris", "Lyon"], "labels": [1, 0]}
    mc_file.write_text(json.dumps([{"question": "Capital of France?", "mc1_targets": options, "mc2_targets": options}]))
    endpoint = {"base_url": server.url, "model": "m", "chat_template": template_dir(tmp_path)}
    config = AuditConfig.model_validate(
        {
            "model": {"backend": "openai", "endpoint": endpoint},
            "audits": {"harmful": None, "overrefusal": None, "truthfulness": {"multiple_choice": str(mc_file)}},
            "cache": {"path": str(tmp_path / "gen.sqlite")},
        }
    )
    with pytest.raises(LoglikelihoodUnsupportedError, match="echo: HTTP 400.*prompt_logprobs: HTTP 400"):
        run_audit(config, tmp_path / "run")
    assert [r["path"] for r in server.chat] == ["/v1/completions"] * 2  # the two probes, no generation
