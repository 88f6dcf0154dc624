"""Generation engines side by side, one after the other in one process, on the same prompts and budget.

1. ``notebook-loop``: one ``model.generate`` per prompt on the HF model, as the seed paper's
   notebooks do (Kumar 2024, ``basemodel_generate_completions.ipynb``);
2. ``hf-backend``: tunesafe's batched, length-sorted transformers backend (fp32 on CPU);
3. ``llamacpp-backend``: tunesafe's in-process llama.cpp backend, sequences decoded in one batch;
4. ``llamacpp-raw``: llama-cpp-python's ``Llama.create_chat_completion``, one prompt at a time;
5. ``llamacpp-server``: llama.cpp's server (``python -m llama_cpp.server``) through ``backend: openai``,
   one request at a time, ``endpoint.extra_body: {repeat_penalty: 1.0}`` (plain greedy).

Every engine decodes greedily; the HF model is the GGUF dequantized to fp32. For each engine the
share of greedy texts identical to the HF backend's and of keyword-extended verdicts that match
are printed too. ``--scaling`` then times a whole harmful audit on the llama.cpp backend at several
prompt counts and a fully cached re-run.

    python benchmarks/bench_engines.py --model qwen2.5-coder-0.5b-instruct --prompts 32
    python benchmarks/bench_engines.py --model smollm2-135m-instruct --prompts 32 --skip notebook-loop
    python benchmarks/bench_engines.py --model qwen2.5-coder-0.5b-instruct --scaling 60,120,240

Prints one JSON line per configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tunesafe.audits.harmful import build_samples
from tunesafe.config import HarmfulAuditSpec
from tunesafe.judges.base import JudgeInput
from tunesafe.judges.keyword import make_keyword_judge
from tunesafe.models import prepare_gguf, resolve_model_source
from tunesafe.types import Conversation, GenParams

ENGINES = ("notebook-loop", "hf-backend", "llamacpp-backend", "llamacpp-raw", "llamacpp-server")


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def notebook_loop(model_dir: Path, threads: int) -> Callable[[list[Conversation], GenParams], list[str]]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()

    def run(convs: list[Conversation], params: GenParams) -> list[str]:
        texts = []
        for conv in convs:
            ids = tokenizer.apply_chat_template(conv, add_generation_prompt=True, return_tensors="pt", return_dict=True)
            with torch.inference_mode():
                out = model.generate(**ids, max_new_tokens=params.max_new_tokens, do_sample=False)
            texts.append(tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True).strip())
        return texts

    return run


def from_backend(backend: object) -> Callable[[list[Conversation], GenParams], list[str]]:
    def run(convs: list[Conversation], params: GenParams) -> list[str]:
        return [c.text for c in backend.generate(convs, params)]  # type: ignore[attr-defined]

    return run


def raw_llamacpp(gguf: Path, threads: int) -> Callable[[list[Conversation], GenParams], list[str]]:
    import llama_cpp

    llm = llama_cpp.Llama(str(gguf), n_ctx=2048, n_threads=threads, verbose=False)

    def run(convs: list[Conversation], params: GenParams) -> list[str]:
        out = []
        for conv in convs:
            reply = llm.create_chat_completion(conv, max_tokens=params.max_new_tokens, temperature=0.0, top_k=1)
            out.append((reply["choices"][0]["message"]["content"] or "").strip())
        return out

    return run


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(gguf: Path, threads: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--n_ctx", "4096", "--n_threads", str(threads), "--model_alias", "bench"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the llama.cpp server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--skip", default="", help="comma-separated engines to leave out")
    parser.add_argument("--scaling", default="", help="comma-separated prompt counts for whole-audit timings")
    args = parser.parse_args()

    spec = HarmfulAuditSpec(subsets=["standard"], limit=args.prompts, judges=["keyword-extended"])
    samples, _ = build_samples(spec, 0, None)
    convs = [s.messages for s in samples]
    params = GenParams(max_new_tokens=args.max_new_tokens)
    gguf = prepare_gguf(args.model)
    model_dir = resolve_model_source(args.model)
    skip = set(filter(None, args.skip.split(",")))
    reference: list[str] | None = None

    for engine in (e for e in ENGINES if e not in skip):
        server = None
        if engine == "notebook-loop":
            run = notebook_loop(model_dir, args.threads)
        elif engine == "hf-backend":
            from tunesafe.backends.hf import HFBackend

            run = from_backend(HFBackend(model_dir, batch_size=args.batch_size, threads=args.threads))
        elif engine == "llamacpp-backend":
            from tunesafe.backends.llamacpp import LlamaCppBackend

            run = from_backend(LlamaCppBackend(gguf, batch_size=args.batch_size, threads=args.threads))
        elif engine == "llamacpp-raw":
            run = raw_llamacpp(gguf, args.threads)
        else:
            from tunesafe.backends.openai_compat import OpenAICompatBackend

            server, url = start_server(gguf, args.threads)
            # the server's default repeat_penalty of 1.1 would make its "greedy" differ from every other engine's
            neutral = {"repeat_penalty": 1.0}
            run = from_backend(OpenAICompatBackend(url, "bench", max_concurrency=1, extra_body=neutral))
        run(convs[:1], params.model_copy(update={"max_new_tokens": 2}))  # warm-up: loading is not timed
        start = time.perf_counter()
        texts = run(convs, params)
        wall = time.perf_counter() - start
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        tokens = _count_tokens(model_dir, texts)
        if engine == "hf-backend":
            reference = texts
        row: dict[str, object] = {
            "engine": engine,
            "model": args.model,
            "prompts": len(convs),
            "wall_s": round(wall, 2),
            "new_tokens": tokens,
            "tokens_per_s": round(tokens / wall, 1),
            "peak_rss_gb": round(peak_rss_gb(), 2),
        }
        if reference is not None and engine != "hf-backend":
            row["identical_texts_vs_hf"] = sum(a == b for a, b in zip(texts, reference, strict=True))
            row["matching_verdicts_vs_hf"] = _matching_verdicts(convs, texts, reference)
        print(json.dumps(row), flush=True)

    if args.scaling:
        scaling(args, [int(n) for n in args.scaling.split(",")])


def _count_tokens(model_dir: Path, texts: list[str]) -> int:
    """New tokens, counted with the model's own tokenizer for every engine alike (EOS not counted)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)


def _matching_verdicts(convs: list[Conversation], texts: list[str], reference: list[str]) -> int:
    """Completions whose keyword-extended verdict (refused / complied) is the HF backend's."""
    judge = make_keyword_judge("keyword-extended")

    def labels(outputs: list[str]) -> list[str | None]:
        return [
            v.label for v in judge.judge([JudgeInput.from_messages(c, t) for c, t in zip(convs, outputs, strict=True)])
        ]

    return sum(a == b for a, b in zip(labels(texts), labels(reference), strict=True))


def scaling(args: argparse.Namespace, counts: list[int]) -> None:
    """Whole harmful audits (standard + contextual, keyword judge) on the llama.cpp backend, then cached."""
    from tunesafe.config import AuditConfig, AuditsSpec, CacheSpec, ModelSpec
    from tunesafe.runner import run_audit

    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            config = AuditConfig(
                name=f"scaling-{n}",
                model=ModelSpec(source=args.model, backend="llamacpp", batch_size=args.batch_size),
                generation=GenParams(max_new_tokens=args.max_new_tokens),
                audits=AuditsSpec(
                    harmful=HarmfulAuditSpec(subsets=["standard", "contextual"], limit=n, judges=["keyword-extended"]),
                    overrefusal=None,
                ),
                cache=CacheSpec(path=str(Path(tmp) / f"gen-{n}.sqlite")),
            )
            for label in ("fresh", "cached"):
                start = time.perf_counter()
                run_audit(config, Path(tmp) / f"run-{n}-{label}")
                wall = time.perf_counter() - start
                print(
                    json.dumps(
                        {
                            "audit": "harmful",
                            "engine": "llamacpp-backend",
                            "prompts": n,
                            "run": label,
                            "wall_s": round(wall, 2),
                            "peak_rss_gb": round(peak_rss_gb(), 2),
                        }
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    main()
