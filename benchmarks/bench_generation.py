"""Generation speed: tunesafe's batched, length-sorted HF backend vs the baseline.

Baseline: one ``model.generate`` call per prompt, as the seed paper's notebooks do (Kumar 2024,
``basemodel_generate_completions.ipynb``). Also timed: the same audit served from the cache.

    python benchmarks/bench_generation.py --model smollm2-135m-instruct --prompts 32 --max-new-tokens 32
    python benchmarks/bench_generation.py --model qwen2.5-coder-0.5b-instruct --prompts 32

Prints one JSON line per configuration (wall seconds, generated tokens, tokens/s, peak RSS).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from tunesafe.audits.harmful import build_samples
from tunesafe.backends.hf import HFBackend
from tunesafe.cache import CachedBackend, GenerationCache
from tunesafe.config import HarmfulAuditSpec
from tunesafe.models import resolve_model_source
from tunesafe.types import GenParams


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def timed(label: str, backend: HFBackend | CachedBackend, convs: list, params: GenParams, **extra: object) -> None:
    misses_before = backend.misses if isinstance(backend, CachedBackend) else None
    start = time.perf_counter()
    out = backend.generate(convs, params)
    wall = time.perf_counter() - start
    tokens = sum(c.n_tokens or 0 for c in out)
    served_from_cache = isinstance(backend, CachedBackend) and backend.misses == misses_before
    row = {
        "config": label,
        "prompts": len(convs),
        "wall_s": round(wall, 4),
        "generated_tokens": 0 if served_from_cache else tokens,
        "tokens_per_s": None if served_from_cache or not wall else round(tokens / wall, 1),
        "peak_rss_gb": round(peak_rss_gb(), 2),
        **extra,
    }
    print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--batch-sizes", default="1,8,16")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    model_dir = resolve_model_source(args.model)
    samples, _ = build_samples(HarmfulAuditSpec(subsets=["standard"], limit=args.prompts), seed=0)
    convs = [s.messages for s in samples]
    params = GenParams(max_new_tokens=args.max_new_tokens)
    for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
        backend = HFBackend(model_dir, batch_size=batch_size, threads=args.threads)
        backend.load()
        label = "baseline: one prompt per generate()" if batch_size == 1 else f"tunesafe: batch {batch_size}"
        timed(label, backend, convs, params, model=args.model, batch_size=batch_size)
        backend.close()
    with tempfile.TemporaryDirectory() as tmp:
        cache = GenerationCache(Path(tmp) / "gen.sqlite")
        cached = CachedBackend(HFBackend(model_dir, batch_size=16, threads=args.threads), cache)
        timed("tunesafe: first run, cache filling", cached, convs, params, model=args.model, batch_size=16)
        timed("tunesafe: re-run, all from cache", cached, convs, params, model=args.model, batch_size=16)
        cache.close()


if __name__ == "__main__":
    main()
