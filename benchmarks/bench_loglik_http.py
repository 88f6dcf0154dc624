"""Log-likelihoods over HTTP vs in process: a served GGUF (llama-cpp-python's server) vs the HF backend.

The same bundled weights two ways: llama-cpp-python's OpenAI-compatible server on the GGUF, scored
by ``OpenAICompatBackend.loglikelihood`` (client-side chat template, ``/completions`` with ``echo``
and ``logprobs``), and ``HFBackend.loglikelihood`` on the fp32 checkpoint tunesafe converts the same
GGUF into (dequantized weights; llama.cpp computes with the quantized ones). The requests are the
truthfulness audit's: each bundled trivia claim (true and false answer, ``plain`` condition) scored
for the replies "True" and "False"; and, multiple-choice style, each item's question scored for its
right and its wrong answer (longer continuations, a wider range of scores).

    python benchmarks/bench_loglik_http.py --items 10            # starts a server on a free port
    python benchmarks/bench_loglik_http.py --base-url http://127.0.0.1:8000/v1 --served-name smollm2

Prints one JSON line per backend (requests, wall seconds, requests/s) and one line of agreement
per request set: per request the Pearson r and mean / max absolute difference of the
log-likelihoods and the share with the same token count; per pair (True vs False, right vs wrong
answer) the share where the difference has the same sign (the ordering), the Pearson r of the
differences and the largest |difference| (HF) among the pairs whose ordering flips.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from tunesafe.audits import truthfulness
from tunesafe.audits.drift import load_items
from tunesafe.backends.base import ContinuationScore
from tunesafe.backends.hf import HFBackend
from tunesafe.backends.openai_compat import OpenAICompatBackend
from tunesafe.models import prepare_gguf, resolve_model_source
from tunesafe.types import Conversation

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # localhost: no proxy


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def llamacpp_server(gguf: str, served_name: str, threads: int) -> Iterator[str]:
    """llama-cpp-python's server on ``gguf`` (``logits_all`` on: echo log-probabilities need it)."""
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--model_alias", served_name,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--logits_all", "true",
        "--n_threads", str(threads), "--n_threads_batch", str(threads), "--verbose", "false",
    ]  # fmt: skip
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: a full pipe would block the server's logging
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    with _DIRECT.open(f"{url}/models", timeout=2):
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        raise RuntimeError(f"the server did not start: {log.read().decode()[-2000:]}") from None
                    time.sleep(0.3)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def request_sets(items: int, seed: int) -> dict[str, list[tuple[Conversation, str]]]:
    """``claims``: per claim (true and false answer of each item, plain) the replies "True" and "False";
    ``answers``: per item its question with the right, then the wrong answer."""
    rows, _ = load_items(None, items, seed)
    samples = truthfulness.build_statement_samples(rows, ["plain"])
    claims = [(s.messages, verdict) for s in samples for verdict in truthfulness.VERDICTS]
    answers = [([{"role": "user", "content": r.question}], a) for r in rows for a in (r.answer, r.wrong_answer)]
    return {"claims": claims, "answers": answers}


def timed(label: str, score: object, requests: list[tuple[Conversation, str]]) -> list[ContinuationScore]:
    start = time.perf_counter()
    out = score(requests)  # type: ignore[operator]
    wall = time.perf_counter() - start
    row = {"backend": label, "requests": len(requests), "wall_s": round(wall, 2)}
    row["requests_per_s"] = round(len(requests) / wall, 2)
    print(json.dumps(row), flush=True)
    return out


def agreement(http: list[ContinuationScore], hf: list[ContinuationScore]) -> dict[str, float | int]:
    """Per-request and per-claim agreement of two lists of scores of the same requests (True, False pairs)."""
    a = np.array([s.logprob for s in http])
    b = np.array([s.logprob for s in hf])
    margins_a, margins_b = a[0::2] - a[1::2], b[0::2] - b[1::2]
    flipped = np.sign(margins_a) != np.sign(margins_b)
    return {
        "requests": len(a),
        "pearson_r": round(float(np.corrcoef(a, b)[0, 1]), 4),
        "mean_abs_diff": round(float(np.abs(a - b).mean()), 4),
        "max_abs_diff": round(float(np.abs(a - b).max()), 4),
        "same_n_tokens": round(float(np.mean([x.n_tokens == y.n_tokens for x, y in zip(http, hf, strict=True)])), 4),
        "pairs": len(margins_a),
        "ordering_agrees": round(float(np.mean(~flipped)), 4),
        "margin_pearson_r": round(float(np.corrcoef(margins_a, margins_b)[0, 1]), 4),
        "flipped_max_abs_margin": round(float(np.abs(margins_b[flipped]).max()), 4) if flipped.any() else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="bundled model name (GGUF and HF checkpoint)")
    parser.add_argument("--items", type=int, default=10, help="trivia items: 2 claims each, 2 requests per claim")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--base-url", default=None, help="an already running server on the same GGUF")
    parser.add_argument("--served-name", default="bench-model")
    args = parser.parse_args()

    gguf = str(prepare_gguf(args.model))
    sets = request_sets(args.items, args.seed)
    requests = [request for rows in sets.values() for request in rows]
    hf = HFBackend(resolve_model_source(args.model), batch_size=8, threads=args.threads)
    try:
        hf_scores = timed("hf", hf.loglikelihood, requests)
    finally:
        hf.close()
    server = llamacpp_server(gguf, args.served_name, args.threads) if args.base_url is None else _given(args.base_url)
    with server as url:
        served = OpenAICompatBackend(url, args.served_name, chat_template=gguf, max_concurrency=1)
        served.loglikelihood_method()  # the probe, outside the timing
        http_scores = timed("openai-http", served.loglikelihood, requests)
        print(json.dumps({"loglikelihood": served.describe()["loglikelihood"]}), flush=True)
    start = 0
    for name, rows in sets.items():
        part = slice(start, start + len(rows))
        print(json.dumps({"agreement": name, **agreement(http_scores[part], hf_scores[part])}), flush=True)
        start += len(rows)


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    main()
