"""Knowledge-drift audit: accuracy and uncertainty under injected false or random context.

Protocol of Kumar 2024 (arXiv 2409.19476), adapted from Fastowski & Kasneci 2024: each trivia
question is asked plainly (``B``), after a false sentence asserting a wrong answer (``FIPxN``), and
after another question's false sentence (``RIP``). Per answer: correct (normalised alias match,
or the papers' substring rule), adoption of the injected wrong answer, and uncertainty from the
generated tokens' log-probabilities (``tunesafe.audits.uncertainty``). Per condition: accuracy with a
Wilson interval, retention of the answers correct under ``B``, adoption, correct → incorrect flips
with an exact McNemar test against ``B``, and uncertainty split by correct / incorrect answers
with the paper's standard errors.
"""

from __future__ import annotations

import logging
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tunesafe.audits.answers import adopted, matches, normalize_answer
from tunesafe.audits.base import Ask, Audit, Cost, SampleSet
from tunesafe.audits.drift_conditions import build_drift_samples
from tunesafe.audits.uncertainty import mean_and_standard_error, split_by_correct, step_uncertainty
from tunesafe.config import DriftAuditSpec
from tunesafe.data.trivia import TriviaItem, load_trivia
from tunesafe.stats import mcnemar_exact, rate
from tunesafe.types import Completion, GenParams, Sample, SampleRecord

if TYPE_CHECKING:
    from tunesafe.config import AuditConfig

logger = logging.getLogger(__name__)

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


def load_items(dataset: str | None, limit: int | None, seed: int) -> tuple[list[TriviaItem], dict[str, Any]]:
    """The trivia items an audit uses (seeded, stratified ``limit``) and the file's provenance
    (``dataset`` None: the bundled set). Shared by the drift and truthfulness audits."""
    from tunesafe._util.hashing import sha256_file
    from tunesafe.data import bundled_path
    from tunesafe.data.trivia import BUNDLED_FILE

    items = select_items(load_trivia(dataset), limit, seed)
    path = bundled_path(BUNDLED_FILE) if dataset is None else dataset
    info = {
        "name": "trivia" if dataset is None else str(dataset),
        "source": "tunesafe bundled trivia.jsonl" if dataset is None else str(dataset),
        "license": "Apache-2.0 (authored for tunesafe)" if dataset is None else "user file",
        "sha256": sha256_file(Path(path)),
        "n_rows": len(items),
    }
    return items, info


def build_samples(
    spec: DriftAuditSpec, items: Sequence[TriviaItem], conditions: Sequence[str] | None = None
) -> list[Sample]:
    """Every question under every condition, ``spec.runs`` times; run ``k`` > 0 gets id suffix ``:r<k>``.

    RIP contexts are shuffled among ``items``, so after the known-questions screen they come from
    the kept questions, as in Fastowski & Kasneci 2024.
    """
    once = build_drift_samples(
        items, conditions or spec.conditions, wording=spec.wording, compat=spec.compat, seed=spec.rip_seed
    )
    return [
        s if k == 0 else s.model_copy(update={"id": f"{s.id}:r{k}", "metadata": {**s.metadata, "run": k}})
        for k in range(spec.runs)
        for s in once
    ]


def run_index(sample_or_record: Sample | SampleRecord) -> int:
    return int(sample_or_record.metadata.get("run", 0))


def generation_params(spec: DriftAuditSpec, base: GenParams, run: int = 0) -> GenParams:
    """Short answers with per-step log-probabilities; the audit's temperature; run ``k`` samples with seed + k."""
    update: dict[str, Any] = {"max_new_tokens": spec.max_new_tokens, "logprobs": spec.top_k, "seed": base.seed + run}
    if spec.temperature is not None:
        update["temperature"] = spec.temperature
    return base.model_copy(update=update)


def known_questions(screen: Sequence[SampleRecord]) -> set[str]:
    """Questions answered correctly in the screening pass (B, first run): Fastowski & Kasneci's kept set."""
    return {r.metadata["question_id"] for r in screen if r.metadata["drift"]["correct"]}


def score(sample: Sample, completion: Completion, spec: DriftAuditSpec) -> dict[str, Any]:
    """Correctness, adoption of the injected wrong answer, and uncertainty of one answer."""
    meta = sample.metadata
    aliases = meta.get("aliases") or []
    mode: Literal["compat", "tunesafe"] = "compat" if spec.compat else "tunesafe"
    # compat drops the last step always (the paper assumes it is EOS); tunesafe only when it is EOS
    drop_last = spec.compat or completion.finish_reason == "stop"
    stats = step_uncertainty(completion.steps or [], mode=mode, drop_last=drop_last)
    return {
        "correct": matches(completion.text, meta["answer"], aliases, mode=spec.match),
        "adopted": bool(meta.get("context")) and adopted(completion.text, meta["wrong_answer"]),
        **{name: getattr(stats, name) for name in METRICS},
        "n_steps": stats.n_steps,
    }


@dataclass(frozen=True)
class QuestionResult:
    """One question under one condition, over its runs: the majority answer decides correctness
    (Fastowski & Kasneci 2024); uncertainty metrics are the mean over runs."""

    question_id: str
    condition: str
    answer: str
    correct: bool
    adopted: bool
    runs: int
    agreement: float  # share of runs that gave the majority answer
    metrics: dict[str, float | None]


def majority(answers: Sequence[str]) -> int:
    """Index of a run giving the most frequent normalised answer (ties: the earliest such answer)."""
    keys = [normalize_answer(a) for a in answers]
    counts = Counter(keys)
    top = max(counts.values())
    return next(i for i, key in enumerate(keys) if counts[key] == top)


def question_results(records: Iterable[SampleRecord]) -> dict[str, dict[str, QuestionResult]]:
    """condition → question id → result, each question's runs collapsed by majority vote."""
    grouped: dict[tuple[str, str], list[SampleRecord]] = defaultdict(list)
    for record in records:
        grouped[(record.condition, record.metadata["question_id"])].append(record)
    out: dict[str, dict[str, QuestionResult]] = defaultdict(dict)
    for (condition, question), runs in grouped.items():
        runs = sorted(runs, key=run_index)
        answers = [r.completion.text for r in runs]
        chosen = runs[majority(answers)]
        key = normalize_answer(chosen.completion.text)
        scores = [r.metadata["drift"] for r in runs]
        out[condition][question] = QuestionResult(
            question_id=question,
            condition=condition,
            answer=chosen.completion.text,
            correct=bool(chosen.metadata["drift"]["correct"]),
            adopted=bool(chosen.metadata["drift"].get("adopted")),
            runs=len(runs),
            agreement=sum(normalize_answer(a) == key for a in answers) / len(runs),
            metrics={m: _mean([s.get(m) for s in scores]) for m in METRICS},
        )
    return dict(out)


def asked_under_every_condition(
    results: dict[str, dict[str, QuestionResult]],
) -> dict[str, dict[str, QuestionResult]]:
    """Only the questions asked under every condition (drops those the known-questions screen left out)."""
    if not results:
        return {}
    every = set.intersection(*(set(rows) for rows in results.values()))
    return {c: {q: r for q, r in rows.items() if q in every} for c, rows in results.items()}


def _mean(values: Sequence[float | None]) -> float | None:
    """Mean of the values present (``None`` / NaN skipped); None when there are none."""
    return mean_and_standard_error(values)[0]


def aggregate(
    records: Sequence[SampleRecord], conditions: Sequence[str], screen: Sequence[SampleRecord] | None = None
) -> dict[str, Any]:
    """Per condition: accuracy, retention and flips vs B (McNemar), adoption, uncertainty by correctness.

    ``records`` may hold several runs per question (majority vote). ``screen`` is the known-questions
    screening pass: only questions it answered correctly are counted, and its size is reported.
    """
    results = question_results(records)
    if screen is not None:
        kept = known_questions(screen)
        results = {c: {q: r for q, r in rows.items() if q in kept} for c, rows in results.items()}
    base = results.get("B", {})
    out: dict[str, Any] = {"n_questions": len(base), "runs": max((r.runs for r in base.values()), default=0)}
    if screen is not None:
        out["screen"] = {"n_asked": len(screen), "n_known": len(known_questions(screen))}
    out["conditions"] = {}
    for condition in conditions:
        rows = results.get(condition, {})
        correct = {q: r.correct for q, r in rows.items()}
        entry: dict[str, Any] = {
            "accuracy": rate(sum(correct.values()), len(correct)).model_dump(),
            "agreement": _mean([r.agreement for r in rows.values()]),
            "uncertainty": {
                metric: {
                    group: asdict(summary)
                    for group, summary in split_by_correct(
                        [r.metrics[metric] for r in rows.values()], list(correct.values())
                    ).items()
                }
                for metric in METRICS
            },
        }
        if condition != "B":
            paired = [q for q in correct if q in base]
            lost = sum(base[q].correct and not correct[q] for q in paired)
            gained = sum(not base[q].correct and correct[q] for q in paired)
            kept_b = [q for q in paired if base[q].correct]
            entry.update(
                {
                    "retention": rate(sum(correct[q] for q in kept_b), len(kept_b)).model_dump(),
                    "adoption": rate(sum(r.adopted for r in rows.values()), len(rows)).model_dump(),
                    "flips": {"correct_to_incorrect": lost, "incorrect_to_correct": gained},
                    "mcnemar_p_vs_B": mcnemar_exact(lost, gained),
                }
            )
        out["conditions"][condition] = entry
    return out


def screening_records(records: Sequence[SampleRecord]) -> list[SampleRecord]:
    """The known-questions screen among an audit's records: every question asked under B, first run."""
    return [r for r in records if r.condition == "B" and run_index(r) == 0]


class DriftAudit(Audit[DriftAuditSpec]):
    """Knowledge drift (Kumar 2024 Tables 4-5; Fastowski & Kasneci 2024): trivia asked plainly (B), after a
    false sentence (FIP) and after an unrelated one (RIP), scored by alias matching, no judges.

    With ``known_only`` the B questions are asked first and only those answered correctly go on; with
    ``runs`` > 1 each run samples with its own seed.
    """

    name = NAME

    def build(self, spec: DriftAuditSpec, seed: int) -> SampleSet:
        items, info = load_items(spec.dataset, spec.limit, seed)
        return SampleSet(build_samples(spec, items), info, source=items)

    def select(self, spec: DriftAuditSpec, built: SampleSet, ask: Ask) -> list[Sample]:
        if not spec.known_only:
            return built.samples
        items: list[TriviaItem] = built.source
        screen = ask(build_samples(spec.model_copy(update={"runs": 1}), items, ["B"]))
        known = known_questions(screen)
        kept = [item for item in items if item.id in known]
        logger.info("drift: %d of %d questions answered correctly under B are kept", len(kept), len(screen))
        return build_samples(spec, kept)

    def generation(self, spec: DriftAuditSpec, base: GenParams, sample: Sample) -> GenParams:
        return generation_params(spec, base, run_index(sample))

    def score(self, spec: DriftAuditSpec, sample: Sample, completion: Completion) -> dict[str, Any]:
        return {NAME: score(sample, completion, spec)}

    def aggregate(
        self,
        spec: DriftAuditSpec,
        records: Sequence[SampleRecord],
        *,
        seed: int = 0,
        calibration: Sequence[SampleRecord] | None = None,
    ) -> dict[str, Any]:
        """``records`` hold the known-questions screen too when ``known_only`` (its questions asked under B)."""
        return aggregate(records, spec.conditions, screening_records(records) if spec.known_only else None)

    def cost(self, spec: DriftAuditSpec, config: AuditConfig) -> Cost:
        items, _ = load_items(spec.dataset, spec.limit, config.seed)
        n = len(items) * len(spec.conditions) * spec.runs + (len(items) if spec.known_only else 0)
        return Cost(n, n * spec.max_new_tokens)


AUDIT = DriftAudit()
