"""Knowledge-drift audit speed and agreement: tunesafe's batched HF backend vs the seed paper's loop.

Baseline: what Kumar 2024's knowledge-drift notebooks do, one ``model.generate(...,
output_logits=True, return_dict_in_generate=True)`` call per prompt, then the three metrics from
the raw logits (top-1 probability, its perplexity, top-10 entropy, last step dropped). tunesafe:
the HF backend in batches with per-step log-probabilities recorded (``GenParams.logprobs``), scored
by ``tunesafe.audits.drift.score`` in compat mode; and the same without log-probabilities, to show
what recording them costs. The script also checks that both paths give the same answers and the
same compat metrics (max absolute difference printed).

    python benchmarks/bench_drift.py --model qwen2.5-coder-0.5b-instruct --questions 16

Prints one JSON line per configuration (prompts, wall seconds, prompts/s, peak RSS), then one
line of agreement figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np

from tunesafe.audits import drift
from tunesafe.backends.hf import HFBackend
from tunesafe.config import DriftAuditSpec
from tunesafe.models import resolve_model_source
from tunesafe.types import GenParams

METRICS = ("probability", "perplexity", "entropy")


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def report(label: str, n: int, wall: float, **extra: object) -> None:
    row = {"config": label, "prompts": n, "wall_s": round(wall, 3), "prompts_per_s": round(n / wall, 3)}
    print(json.dumps({**row, "peak_rss_gb": round(peak_rss_gb(), 2), **extra}), flush=True)


def seed_style_metrics(logits: np.ndarray) -> dict[str, float | None]:
    """Kumar 2024's notebook formulas on one answer's raw logits ``(steps, vocab)``, last step dropped."""
    steps = logits[:-1].astype(np.float64)
    if steps.shape[0] == 0:
        return dict.fromkeys(METRICS)
    steps = steps - steps.max(axis=1, keepdims=True)
    probs = np.exp(steps) / np.exp(steps).sum(axis=1, keepdims=True)
    top1 = probs.max(axis=1)
    top10 = np.sort(probs, axis=1)[:, -10:]
    return {
        "probability": float(top1.mean()),
        "perplexity": float(np.exp(-np.log(top1).mean())),
        "entropy": float((-(top10 * np.log(top10)).sum(axis=1)).mean()),
    }


def seed_style(backend: HFBackend, conversations: list, max_new_tokens: int) -> list[tuple[str, dict]]:
    """One prompt per ``generate`` call with ``output_logits=True``, as the notebooks do (greedy here)."""
    import torch

    tokenizer, model = backend.tokenizer, backend.model
    out = []
    for conversation in conversations:
        ids = tokenizer.apply_chat_template(conversation, add_generation_prompt=True, return_tensors="pt")
        ids = ids["input_ids"] if not torch.is_tensor(ids) else ids
        with torch.no_grad():
            result = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                output_logits=True,
                return_dict_in_generate=True,
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            )
        new = result.sequences[0, ids.shape[1] :]
        logits = torch.stack(result.logits, dim=1)[0].float().numpy()
        out.append((tokenizer.decode(new, skip_special_tokens=True).strip(), seed_style_metrics(logits)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--questions", type=int, default=16, help="trivia questions (x3 conditions: B, FIP, RIP)")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    spec = DriftAuditSpec(limit=args.questions, compat=True, max_new_tokens=args.max_new_tokens)
    items, _ = drift.load_items(None, args.questions, seed=0)
    samples = drift.build_samples(spec, items)
    conversations = [s.messages for s in samples]
    backend = HFBackend(resolve_model_source(args.model), batch_size=args.batch_size, threads=args.threads)
    backend.generate(conversations[:1], GenParams(max_new_tokens=2))  # load outside the timings

    start = time.perf_counter()
    baseline = seed_style(backend, conversations, args.max_new_tokens)
    report("baseline: one generate(output_logits=True) per prompt", len(samples), time.perf_counter() - start)

    params = drift.generation_params(spec, GenParams())
    start = time.perf_counter()
    completions = backend.generate(conversations, params)
    scores = [drift.score(s, c, spec) for s, c in zip(samples, completions, strict=True)]
    report(
        f"tunesafe: batch {args.batch_size}, top-{spec.top_k} log-probabilities",
        len(samples),
        time.perf_counter() - start,
    )

    start = time.perf_counter()
    backend.generate(conversations, params.model_copy(update={"logprobs": None}))
    report(f"tunesafe: batch {args.batch_size}, no log-probabilities", len(samples), time.perf_counter() - start)

    same_text = sum(text == c.text for (text, _), c in zip(baseline, completions, strict=True))
    diffs = {
        m: max(
            (
                abs(b[m] - s[m])
                for (_, b), s in zip(baseline, scores, strict=True)
                if b[m] is not None and s[m] is not None
            ),
            default=None,
        )
        for m in METRICS
    }
    print(json.dumps({"agreement": {"same_answer": f"{same_text}/{len(samples)}", "max_abs_diff": diffs}}))


if __name__ == "__main__":
    main()
