"""Judge speed: keyword list vs MiniLM refusal classifier vs an LLM judge, and re-judging from the cache.

Texts: the held-out split of the bundled labelled refusal set (161 replies). The LLM judge
(HarmBench-style yes/no, 4 new tokens) runs on a bundled model through the HF backend; it is the
expensive baseline the classifier is meant to replace for refusal detection. Also timed: the same
classifier verdicts served from the verdict cache (what ``tunesafe rejudge`` does on a repeat).

    python benchmarks/bench_judges.py --llm-model smollm2-135m-instruct --llm-items 16

Prints one JSON line per judge (items, wall seconds, items/s, peak RSS).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from tunesafe.cache import CachedJudge, GenerationCache
from tunesafe.data import bundled_path
from tunesafe.judges.base import JudgeInput
from tunesafe.judges.classifier import RefusalClassifierJudge
from tunesafe.judges.keyword import make_keyword_judge


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def timed(label: str, judge: object, items: list[JudgeInput]) -> None:
    start = time.perf_counter()
    verdicts = judge.judge(items)  # type: ignore[attr-defined]
    wall = time.perf_counter() - start
    row = {
        "judge": label,
        "items": len(items),
        "wall_s": round(wall, 4),
        "items_per_s": round(len(items) / wall, 1) if wall else None,
        "unscored": sum(v.score is None for v in verdicts),
        "peak_rss_gb": round(peak_rss_gb(), 2),
    }
    print(json.dumps(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm-model", default="smollm2-135m-instruct")
    parser.add_argument("--llm-items", type=int, default=16)
    args = parser.parse_args()
    rows = [json.loads(x) for x in bundled_path("refusal_labelled.jsonl").read_text().splitlines() if x.strip()]
    items = [JudgeInput(prompt=r["prompt"], completion=r["text"]) for r in rows if r["split"] == "test"]

    timed("keyword-extended", make_keyword_judge("keyword-extended"), items)
    classifier = RefusalClassifierJudge()
    classifier.judge(items[:2])  # load MiniLM once, outside the timing
    timed("refusal-classifier", classifier, items)
    with tempfile.TemporaryDirectory() as tmp:
        cache = GenerationCache(Path(tmp) / "c.sqlite")
        CachedJudge(classifier, cache).judge(items)
        timed("refusal-classifier (verdict cache)", CachedJudge(classifier, cache), items)
        cache.close()

    from tunesafe.backends.hf import HFBackend
    from tunesafe.judges.llm import LLMJudge
    from tunesafe.models import resolve_model_source

    backend = HFBackend(resolve_model_source(args.llm_model), batch_size=8)
    judge = LLMJudge("harmbench-yesno", backend)
    judge.judge(items[:1])  # load the model outside the timing
    timed(f"harmbench-yesno@{args.llm_model}", judge, items[: args.llm_items])
    backend.close()


if __name__ == "__main__":
    main()
