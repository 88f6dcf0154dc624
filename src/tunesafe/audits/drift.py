"""Knowledge-drift audit: accuracy and uncertainty under injected false or random context.

Protocol of Kumar 2024 (arXiv 2409.19476), adapted from Fastowski & Kasneci 2024: each trivia
question is asked plainly (``B``), after a false sentence asserting a wrong answer (``FIPxN``), and
after another question's false sentence (``RIP``). Per answer: correct (normalised alias match,
or the papers' substring rule), adoption of the injected wrong answer, and uncertainty from the
generated tokens' log-probabilities (``tunesafe.uncertainty``). Per condition: accuracy with a
Wilson interval, retention of the answers correct under ``B``, adoption, correct → incorrect flips
with an exact McNemar test against ``B``, and uncertainty split by correct / incorrect answers
with the paper's standard errors.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from tunesafe.answers import adopted, matches
from tunesafe.audits.drift_conditions import build_drift_samples
from tunesafe.config import DriftAuditSpec
from tunesafe.data.trivia import TriviaItem, load_trivia
from tunesafe.stats import mcnemar_exact, rate
from tunesafe.types import Completion, GenParams, Sample, SampleRecord
from tunesafe.uncertainty import split_by_correct, step_uncertainty

NAME = "drift"
VERSION = "1"
METRICS = ("probability", "perplexity", "entropy", "entropy_topk")


def select_items(items: Sequence[TriviaItem], limit: int | None, seed: int) -> list[TriviaItem]:
    """``limit`` questions spread over domains in proportion, seeded; the file order is kept."""
    if limit is None or limit >= len(items):
        return list(items)
    by_domain: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        by_domain[item.domain or ""].append(index)
    rng = random.Random(seed)
    quotas = {d: limit * len(ix) / len(items) for d, ix in by_domain.items()}
    counts = {d: int(q) for d, q in quotas.items()}
    for d in sorted(by_domain, key=lambda d: (-(quotas[d] - counts[d]), d))[: limit - sum(counts.values())]:
        counts[d] += 1
    chosen = [i for d in sorted(by_domain) for i in rng.sample(by_domain[d], counts[d])]
    return [items[i] for i in sorted(chosen)]


def build_samples(spec: DriftAuditSpec, seed: int) -> tuple[list[Sample], dict[str, Any]]:
    """The audit's prompts (every question under every condition) and the question set's provenance."""
    from tunesafe._util.hashing import sha256_file
    from tunesafe.data import bundled_path
    from tunesafe.data.trivia import BUNDLED_FILE

    items = select_items(load_trivia(spec.dataset), spec.limit, seed)
    samples = build_drift_samples(items, spec.conditions, wording=spec.wording, compat=spec.compat, seed=spec.rip_seed)
    path = bundled_path(BUNDLED_FILE) if spec.dataset is None else spec.dataset
    info = {
        "name": "trivia" if spec.dataset is None else str(spec.dataset),
        "source": "tunesafe bundled trivia.jsonl" if spec.dataset is None else str(spec.dataset),
        "license": "Apache-2.0 (authored for tunesafe)" if spec.dataset is None else "user file",
        "sha256": sha256_file(path),
        "n_rows": len(items),
    }
    return samples, info


def generation_params(spec: DriftAuditSpec, base: GenParams) -> GenParams:
    """Short answers with per-step log-probabilities; the audit's temperature and seed."""
    return base.model_copy(update={"max_new_tokens": spec.max_new_tokens, "logprobs": spec.top_k})


def score(sample: Sample, completion: Completion, spec: DriftAuditSpec) -> dict[str, Any]:
    """Correctness, adoption of the injected wrong answer, and uncertainty of one answer."""
    meta = sample.metadata
    aliases = meta.get("aliases") or []
    mode = "compat" if spec.compat else "tunesafe"
    # compat drops the last step always (the paper assumes it is EOS); tunesafe only when it is EOS
    drop_last = spec.compat or completion.finish_reason == "stop"
    stats = step_uncertainty(completion.steps or [], mode=mode, drop_last=drop_last)
    return {
        "correct": matches(completion.text, meta["answer"], aliases, mode=spec.match),
        "adopted": bool(meta.get("context")) and adopted(completion.text, meta["wrong_answer"]),
        **{name: getattr(stats, name) for name in METRICS},
        "n_steps": stats.n_steps,
    }


def aggregate(records: Sequence[SampleRecord], conditions: Sequence[str]) -> dict[str, Any]:
    """Per condition: accuracy, retention and flips vs B (McNemar), adoption, uncertainty by correctness."""
    by_condition: dict[str, dict[str, SampleRecord]] = defaultdict(dict)
    for record in records:
        by_condition[record.condition][record.metadata["question_id"]] = record
    base = by_condition.get("B", {})
    out: dict[str, Any] = {"n_questions": len(base), "conditions": {}}
    for condition in conditions:
        rows = by_condition.get(condition, {})
        correct = {q: bool(r.metadata["drift"]["correct"]) for q, r in rows.items()}
        entry: dict[str, Any] = {
            "accuracy": rate(sum(correct.values()), len(correct)).model_dump(),
            "uncertainty": {
                metric: {
                    group: asdict(summary)
                    for group, summary in split_by_correct(
                        [r.metadata["drift"][metric] for r in rows.values()], list(correct.values())
                    ).items()
                }
                for metric in METRICS
            },
        }
        if condition != "B":
            paired = [q for q in correct if q in base]
            was = {q: bool(base[q].metadata["drift"]["correct"]) for q in paired}
            lost = sum(was[q] and not correct[q] for q in paired)
            gained = sum(not was[q] and correct[q] for q in paired)
            kept = [q for q in paired if was[q]]
            entry.update(
                {
                    "retention": rate(sum(correct[q] for q in kept), len(kept)).model_dump(),
                    "adoption": rate(
                        sum(bool(rows[q].metadata["drift"]["adopted"]) for q in rows), len(rows)
                    ).model_dump(),
                    "flips": {"correct_to_incorrect": lost, "incorrect_to_correct": gained},
                    "mcnemar_p_vs_B": mcnemar_exact(lost, gained),
                }
            )
        out["conditions"][condition] = entry
    return out
