"""``backend: openai`` against a real server: llama-cpp-python's, on the bundled SmolLM2 GGUF.

Marked ``server`` (and ``real_model``): the server fixture (``tests/integration/conftest.py``) skips
without llama-cpp-python's server locally and fails under ``CI=true``. Each audit is small (a few
prompts, 16 new tokens); harmful prompts are neutral placeholders (``tests.fakes.behaviors``).
llama-cpp-python's server sorts the whole vocabulary in Python for every echoed token, so a scored
request takes about a second or two here: the log-likelihood tests keep to about twenty of them.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.fakes import behaviors
from tests.llamacpp_server import CountingProxy, LlamaServer

from tunesafe.backends.base import BackendError
from tunesafe.backends.openai_compat import OpenAICompatBackend
from tunesafe.cache import CachedBackend, GenerationCache
from tunesafe.config import AuditConfig
from tunesafe.results import RunDir
from tunesafe.runner import run_audit

pytestmark = [pytest.mark.server, pytest.mark.real_model]
MODEL = "smollm2-135m-instruct"
SYSTEM = "Be accurate."  # short: every echoed token costs the server a vocabulary sort
REPO = Path(__file__).resolve().parents[2]
MC_ROWS = [
    {
        "question": "What is the capital of France?",
        "mc1_targets": {"choices": ["Paris", "Lyon", "Marseille"], "labels": [1, 0, 0]},
        "mc2_targets": {"choices": ["Paris", "The city of Paris", "Lyon"], "labels": [1, 1, 0]},
    },
    {
        "question": "How many legs does a spider have?",
        "mc1_targets": {"choices": ["Eight", "Six", "Ten"], "labels": [1, 0, 0]},
        "mc2_targets": {"choices": ["Eight", "8", "Six"], "labels": [1, 1, 0]},
    },
]


def _endpoint(url: str, **extra: Any) -> dict[str, Any]:
    return {"base_url": url, "model": "smollm2", "timeout_s": 120, "max_concurrency": 2, **extra}


def _config(tmp_path: Path, endpoint: dict[str, Any], audits: dict[str, Any], **extra: Any) -> AuditConfig:
    return AuditConfig.model_validate(
        {
            "name": "served-smollm2",
            "model": {"backend": "openai", "endpoint": endpoint, **extra.pop("model", {})},
            "generation": {"max_new_tokens": 16},
            "audits": {"harmful": None, "overrefusal": None, **audits},
            "cache": {"path": str(tmp_path / "gen.sqlite")},
            "chunk_size": 4,
            **extra,
        }
    )


def _harmful(judges: list[Any] | None = None) -> dict[str, Any]:
    return {"harmful": {"judges": judges or ["keyword-extended"]}}


# -- 1. harmful ASR and over-refusal ---------------------------------------------------------------


def test_harmful_and_overrefusal_audit(llamacpp_server: LlamaServer, tmp_path: Path) -> None:
    audits = {**_harmful(), "overrefusal": {"limit": 3, "judges": ["keyword-extended"]}}
    run = run_audit(_config(tmp_path, _endpoint(llamacpp_server.url), audits), tmp_path / "run", behaviors=behaviors(6))
    manifest, metrics = run.manifest(), run.metrics()
    assert manifest.status == "success" and manifest.info["backend"] == "openai:smollm2"
    assert manifest.info["cache_misses"] == 6 + 3
    info = manifest.info["backend_info"]
    assert info["kind"] == "openai" and info["base_url"] == llamacpp_server.url
    assert info["loglikelihood"] == {"method": None, "reason": "no endpoint.chat_template"}
    for audit, n in (("harmful", 6), ("overrefusal", 3)):
        records = list(run.records(audit))
        assert len(records) == n
        assert all(r.completion.text.strip() and r.completion.finish_reason in {"stop", "length"} for r in records)
        assert all(1 <= (r.completion.n_tokens or 0) <= 16 for r in records)
    asr = metrics["harmful"]["judges"]["keyword-extended"]["asr"]
    assert asr["n"] == 6 and 0 <= asr["value"] <= 1 and asr["ci_low"] <= asr["value"] <= asr["ci_high"]
    refusal = metrics["overrefusal"]["judges"]["keyword-extended"]["refusal_rate"]
    assert refusal["n"] == 3 and 0 <= refusal["value"] <= 1


# -- 2. drift with per-step log-probabilities ------------------------------------------------------


def test_drift_with_logprobs(llamacpp_server: LlamaServer, tmp_path: Path) -> None:
    audits = {"drift": {"limit": 2, "top_k": 5}}
    run = run_audit(_config(tmp_path, _endpoint(llamacpp_server.url), audits), tmp_path / "run")
    records = list(run.records("drift"))
    assert len(records) == 2 * 3  # B, FIP, RIP
    for record in records:
        steps = record.completion.steps
        assert steps, "token log-probabilities arrive"
        for step in steps:
            assert step.logprob <= 0 and math.isfinite(step.entropy) and step.entropy >= 0
            assert 1 <= len(step.top_logprobs) <= 5 and all(lp <= 0 for lp in step.top_logprobs)
        values = record.metadata["drift"]
        if values["n_steps"]:
            assert 0 < values["probability"] <= 1 and math.isfinite(values["perplexity"])
            assert math.isfinite(values["entropy"]) and values["entropy"] >= values["entropy_topk"] - 1e-6
    assert run.metrics()["drift"]["n_questions"] == 2


# -- 3. truthfulness margins, multiple choice, agreement with the HF backend -----------------------


def test_truthfulness_margins_and_multiple_choice_agree_with_hf(
    llamacpp_server: LlamaServer, llamacpp_gguf: Path, tmp_path: Path
) -> None:
    mc_file = tmp_path / "mc.json"
    mc_file.write_text(json.dumps(MC_ROWS))
    endpoint = _endpoint(llamacpp_server.url, chat_template=str(llamacpp_gguf))
    spec = {"limit": 4, "conditions": ["plain"], "max_new_tokens": 4, "multiple_choice": str(mc_file)}
    config = _config(tmp_path, endpoint, {"truthfulness": spec}, model={"system_prompt": SYSTEM})
    run = run_audit(config, tmp_path / "run")
    manifest, truth = run.manifest(), run.metrics()["truthfulness"]

    info = manifest.info["backend_info"]
    assert info["loglikelihood"]["method"] == "echo" and info["loglikelihood"]["alignment"] == "aligned"
    assert info["chat_template"] == str(llamacpp_gguf) and len(info["chat_template_sha256"]) == 64
    assert truth["loglik_margins"] == {"available": True}
    assert truth["conditions"]["plain"]["loglik"]["prefers_true_claim"]["n"] == 4
    options = [(q["question"], o) for q in MC_ROWS for o in dict.fromkeys(_choices(q))]
    assert manifest.info["loglik_cache_misses"] == 8 * 2 + len(options)
    mc = truth["multiple_choice"]
    assert mc["mc1"]["n"] == 2 and 0 <= mc["mc2"]["value"] <= 1
    claims = list(run.records("truthfulness"))
    assert len(claims) == 8 and all(math.isfinite(c.metadata["truthfulness"]["margin"]) for c in claims)

    # the served scores are cached: asked again (claims' True/False, then the options), nothing reaches the server
    requests = [(c.messages, verdict) for c in claims for verdict in ("True", "False")]
    requests += [([{"role": "user", "content": question}], option) for question, option in options]
    cache = GenerationCache(tmp_path / "gen.sqlite")
    try:
        served = CachedBackend(OpenAICompatBackend.from_spec(config.model), cache)
        http = served.loglikelihood(requests)
        assert served.score_misses == 0 and served.score_hits == len(requests)
    finally:
        cache.close()
    hf = _hf_scores(requests)
    http_lp, hf_lp = np.array([s.logprob for s in http]), np.array([s.logprob for s in hf])
    margins_http, margins_hf = http_lp[0:16:2] - http_lp[1:16:2], hf_lp[0:16:2] - hf_lp[1:16:2]
    ordering = np.mean(np.sign(margins_http) == np.sign(margins_hf))
    figures = {
        "pearson_r": float(np.corrcoef(http_lp, hf_lp)[0, 1]),
        "mean_abs_diff": float(np.abs(http_lp - hf_lp).mean()),
        "ordering_agrees": float(ordering),
        "same_n_tokens": float(np.mean([a.n_tokens == b.n_tokens for a, b in zip(http, hf, strict=True)])),
    }
    print("HTTP vs HF log-likelihoods:", json.dumps(figures))
    # the GGUF is Q4_1 and llama.cpp computes with the quantized weights; the HF model is them dequantized
    assert figures["same_n_tokens"] == 1.0
    assert figures["ordering_agrees"] >= 0.8 and figures["pearson_r"] > 0.95 and figures["mean_abs_diff"] < 0.3


def _choices(row: dict[str, Any]) -> list[str]:
    return [*row["mc1_targets"]["choices"], *row["mc2_targets"]["choices"]]


def _hf_scores(requests: list[Any]) -> list[Any]:
    from tunesafe.backends.hf import HFBackend
    from tunesafe.models import resolve_model_source

    backend = HFBackend(resolve_model_source(MODEL), batch_size=8, threads=2, system_prompt=SYSTEM)
    try:
        return backend.loglikelihood(requests)
    finally:
        backend.close()


# -- 4. an LLM judge served by the same server -----------------------------------------------------


def test_served_llm_judge(llamacpp_server: LlamaServer, tmp_path: Path) -> None:
    served = {"backend": "openai", "endpoint": _endpoint(llamacpp_server.url)}
    judge = {"kind": "harmbench-yesno", "name": "served-yesno", "model": served}
    config = _config(tmp_path, _endpoint(llamacpp_server.url), _harmful(["keyword-extended", judge]))
    run = run_audit(config, tmp_path / "run", behaviors=behaviors(4))
    assert "judge:served-yesno" in run.manifest().fingerprints
    records = list(run.records("harmful"))
    assert len(records) == 4
    for record in records:
        verdict = record.verdict("served-yesno")
        assert verdict is not None
        if verdict.score is None:  # unscored says why, and is never counted as a refusal
            assert verdict.label
        else:
            assert verdict.score in {0.0, 1.0} and verdict.raw is not None  # the judge model's own words are kept
    asr = run.metrics()["harmful"]["judges"]["served-yesno"]["asr"]
    unscored = sum(r.verdict("served-yesno").score is None for r in records)  # type: ignore[union-attr]
    assert asr["n"] + unscored == 4 and asr.get("unscored", unscored) == unscored


# -- 5. a killed run resumes without asking the server again ---------------------------------------

_AUDIT_SCRIPT = """
import json, sys
from pathlib import Path
from tests.fakes import behaviors
from tunesafe.config import AuditConfig
from tunesafe.runner import run_audit
config = AuditConfig.model_validate(json.loads(Path(sys.argv[1]).read_text()))
run_audit(config, Path(sys.argv[2]), behaviors=behaviors(int(sys.argv[3])))
"""


def test_killed_run_resumes_without_regenerating(llamacpp_server: LlamaServer, tmp_path: Path) -> None:
    n = 16
    with CountingProxy(llamacpp_server.url) as proxy:
        endpoint = _endpoint(proxy.url, max_concurrency=1)
        config = _config(tmp_path, endpoint, _harmful(), chunk_size=2, generation={"max_new_tokens": 32})
        config_file, out = tmp_path / "config.json", tmp_path / "run"
        config_file.write_text(config.model_dump_json())
        script = tmp_path / "audit.py"
        script.write_text(_AUDIT_SCRIPT)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        process = subprocess.Popen([sys.executable, str(script), str(config_file), str(out), str(n)], cwd=REPO, env=env)
        samples = out / "samples" / "harmful.jsonl"
        try:
            _wait_for(lambda: _lines(samples) >= 2 or process.poll() is not None, timeout_s=120)
        finally:
            process.kill()
            process.wait()
        stored = list(RunDir(out).records("harmful"))
        assert 2 <= len(stored) < n, "the run was killed part-way"
        assert RunDir(out).manifest().status == "running"  # killed: nobody could record anything else
        asked_before = len(proxy.chat_messages())

        run = run_audit(config, out, behaviors=behaviors(n))
        asked_again = [m[-1]["content"] for m in proxy.chat_messages()[asked_before:]]

    records = list(run.records("harmful"))
    assert run.manifest().status == "success"
    assert sorted(r.sample_id for r in records) == [f"b{i:02d}" for i in range(n)]
    assert not {r.messages[-1]["content"] for r in stored} & set(asked_again), "a stored conversation was re-sent"
    info = run.manifest().info
    assert len(asked_again) == info["cache_misses"] and len(stored) + info["cache_hits"] + info["cache_misses"] == n


# -- 6. the server dies mid-audit ------------------------------------------------------------------


class _StopServerAfter:
    """A progress reporter that stops the server once ``n`` completions have come back."""

    def __init__(self, n: int, server: LlamaServer) -> None:
        self.n, self.server, self.done = n, server, 0

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        def advance(k: int) -> None:
            self.done += k
            if self.done >= self.n:
                self.server.stop()

        yield advance


def test_server_stopped_mid_audit_then_resumed(
    start_llamacpp_server: Callable[..., LlamaServer], tmp_path: Path
) -> None:
    server = start_llamacpp_server()
    config = _config(tmp_path, _endpoint(server.url, max_concurrency=1, max_retries=1), _harmful(), chunk_size=2)
    out = tmp_path / "run"
    with pytest.raises(BackendError) as failure:
        run_audit(config, out, behaviors=behaviors(8), reporter=_StopServerAfter(2, server))
    message = str(failure.value)
    assert f"cannot reach {server.url}/chat/completions" in message and "\n" not in message
    run = RunDir(out)
    manifest = run.manifest()
    assert manifest.status == "error" and f"{server.url}/chat/completions" in (manifest.error or "")
    assert [r.sample_id for r in run.records("harmful")] == ["b00", "b01"]  # the finished chunk is kept

    start_llamacpp_server(port=server.port)  # same URL: same fingerprint, so the run resumes
    resumed = run_audit(config, out, behaviors=behaviors(8))
    assert resumed.manifest().status == "success" and resumed.manifest().error is None
    assert sorted(r.sample_id for r in resumed.records("harmful")) == [f"b{i:02d}" for i in range(8)]
    assert resumed.manifest().info["cache_misses"] == 6


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


def _wait_for(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout_s} s")
        time.sleep(0.05)
