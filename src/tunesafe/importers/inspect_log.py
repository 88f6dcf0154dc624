"""An inspect_ai eval log (``.eval`` or ``.json``) read through inspect's own reader, as tunesafe samples.

Mapping (one :class:`~tunesafe.importers.logs.LogSample` per sample and epoch):

- prompt: the sample's messages before the model's last reply (system prompts and earlier turns a solver
  added included), else its ``input``; completion: ``output.completion`` (``stop_reason`` max_tokens /
  model_length → finish reason ``length``, stop → ``stop``; output tokens from its usage);
- id: the sample id; epoch ``n`` > 1 gets ``<id>-e<n>`` (each epoch is its own completion: rates count
  every epoch, and a one-epoch log pairs with another log's first epoch);
- category / subset: the sample metadata's ``category`` / ``subset`` (or the keys given); target and
  every score (value, answer, explanation) kept in the record's metadata;
- verdicts: tunesafe's own scorer (``tunesafe/judge_panel``) stores its judges' verdicts in the score
  metadata: they come back as those judges' verdicts, in tunesafe's polarity. Another scorer becomes an
  imported label only when named (``label``; ``scorer.key`` for a dict value), read as
  :func:`~tunesafe.judges.labels.parse_label` reads labels: its polarity (is "C" a refusal?) is the task's.

Samples that ended in an error have no completion: they are left out and listed in the run's
``info.inspect.skipped``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from tunesafe.importers.logs import LogImportError, LogOptions, LogRead, LogSample, repeat_id
from tunesafe.judges.labels import label_verdict
from tunesafe.types import Completion, Conversation, Verdict

if TYPE_CHECKING:
    from inspect_ai.log import EvalLog, EvalSample
    from inspect_ai.model import ChatMessage

logger = logging.getLogger(__name__)

_FINISH = {"stop": "stop", "max_tokens": "length", "model_length": "length"}


def read_log(path: Path) -> EvalLog:
    """The log, attachments resolved (events and store left out).

    Raises:
        LogImportError: inspect_ai is not installed, or the file is no inspect log (the reader's reason).
    """
    try:
        from inspect_ai.log import read_eval_log
    except ImportError as err:
        raise LogImportError(f"{path}: reading inspect logs needs inspect_ai: pip install 'tunesafe[inspect]'") from err
    try:
        return read_eval_log(str(path), resolve_attachments=True, exclude_fields={"events", "store"})
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise  # the CLI names the path and what is wrong with it
    except Exception as err:  # a foreign file fails in the reader's own way: zip, JSON, schema, missing member
        reason = " ".join(str(err).split())[:200] or type(err).__name__
        raise LogImportError(f"{path}: not a readable inspect log ({reason})") from err


def conversation(sample: EvalSample) -> Conversation:
    """The chat messages as sent for the final reply: everything before the last assistant message."""
    from inspect_ai.model import ChatMessageUser

    messages: list[ChatMessage] = list(sample.messages)
    if not messages:
        messages = [ChatMessageUser(content=sample.input)] if isinstance(sample.input, str) else list(sample.input)
    last = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=len(messages))
    return [{"role": m.role, "content": m.text} for m in messages[:last]]


def _completion(sample: EvalSample) -> Completion:
    output = sample.output
    tokens = output.usage.output_tokens if output.usage is not None else None
    return Completion(text=output.completion, finish_reason=_FINISH.get(output.stop_reason), n_tokens=tokens)


def _text(metadata: dict[str, Any], key: str) -> str | None:
    value = metadata.get(key)
    return None if value is None or value == "" else str(value)


def panel_verdicts(sample: EvalSample, where: str) -> list[Verdict]:
    """The verdicts tunesafe's judge-panel scorer stored in its score metadata (none for other scorers)."""
    verdicts: list[Verdict] = []
    for name, score in (sample.scores or {}).items():
        meta = score.metadata or {}
        if "headline_judge" not in meta or not isinstance(meta.get("verdicts"), dict):
            continue
        try:
            verdicts += [Verdict.model_validate(v) for v in meta["verdicts"].values()]
        except ValidationError as err:
            problem = err.errors()[0]["msg"]
            raise LogImportError(f"{where}: scorer {name!r} holds a malformed tunesafe verdict ({problem})") from err
    return verdicts


def score_value(sample: EvalSample, label: str) -> tuple[bool, Any]:
    """(found, value) of scorer ``label``, or of key ``k`` of a dict value with ``scorer.k``."""
    scores = sample.scores or {}
    if label in scores:
        return True, scores[label].value
    name, _, key = label.rpartition(".")
    value = scores[name].value if name in scores else None
    if isinstance(value, dict) and key in value:
        return True, value[key]
    return False, None


def _scores(sample: EvalSample) -> dict[str, Any]:
    return {
        name: {"value": s.value, "answer": s.answer, "explanation": s.explanation}
        for name, s in (sample.scores or {}).items()
    }


def to_sample(sample: EvalSample, options: LogOptions, where: str) -> tuple[LogSample, bool]:
    """The tunesafe sample of one inspect sample, and whether the label scorer was found in it."""
    verdicts = panel_verdicts(sample, where)
    found = False
    if options.label:
        found, value = score_value(sample, options.label)
        verdicts.append(label_verdict(value, options.label_judge))
    metadata = {
        "inspect_id": sample.id,
        "epoch": sample.epoch,
        "target": sample.target,
        "scores": _scores(sample),
        "stop_reason": sample.output.stop_reason,
    }
    meta = sample.metadata or {}
    out = LogSample(
        sample_id=repeat_id(str(sample.id), sample.epoch, "e"),
        messages=conversation(sample),
        completion=_completion(sample),
        category=_text(meta, options.category or "category"),
        subset=_text(meta, options.subset or "subset"),
        verdicts=verdicts,
        metadata=metadata,
    )
    return out, found


def _check_keys(path: Path, samples: list[EvalSample], options: LogOptions, found_label: bool) -> None:
    """A scorer or metadata key named explicitly must exist in at least one sample (a typo is an error)."""
    if options.label and not found_label:
        names = sorted({n for s in samples for n in (s.scores or {})})
        raise LogImportError(f"{path}: no scorer {options.label!r} in the log; scorers: {', '.join(names) or 'none'}")
    for flag, key in (("--category-col", options.category), ("--subset-col", options.subset)):
        if key and not any(key in (s.metadata or {}) for s in samples):
            keys = sorted({k for s in samples for k in (s.metadata or {})})
            shown = ", ".join(keys) or "none"
            raise LogImportError(f"{path}: {flag} {key!r}: no sample metadata has it; metadata keys: {shown}")


def read_inspect_log(path: str | Path, options: LogOptions | None = None) -> LogRead:
    """Read an inspect eval log into tunesafe samples (see the module docstring for the mapping).

    Raises:
        LogImportError: no inspect_ai, an unreadable or foreign file, a log without samples, or a scorer /
            metadata key named in ``options`` that the log lacks.
    """
    path, options = Path(path), options or LogOptions()
    log = read_log(path)
    samples = sorted(log.samples or [], key=lambda s: s.epoch)  # stable: each epoch in the log's order
    if not samples:
        raise LogImportError(f"{path}: the inspect log holds no samples (status {log.status}); run the eval again")
    kept, skipped, found = [], [], False
    for sample in samples:
        if sample.error is not None:
            skipped.append({"id": sample.id, "epoch": sample.epoch, "error": sample.error.message.splitlines()[0]})
            continue
        out, has_label = to_sample(sample, options, f"{path}: sample {sample.id!r} epoch {sample.epoch}")
        kept.append(out)
        found = found or has_label
    if not kept:
        raise LogImportError(
            f"{path}: every sample ended in an error (log status {log.status}; the first: "
            f"{str(skipped[0]['error'])[:160]}); fix the eval and run it again"
        )
    _check_keys(path, samples, options, found)
    if skipped:
        logger.warning("%s: %d sample(s) ended in an error and are left out", path, len(skipped))
    info = {
        "task": log.eval.task,
        "eval_id": log.eval.eval_id,
        "run_id": log.eval.run_id,
        "created": log.eval.created,
        "status": log.status,
        "epochs": max(s.epoch for s in samples),
        "scorers": sorted({n for s in samples for n in (s.scores or {})}),
        "label_scorer": options.label,
        "skipped": skipped,
    }
    return LogRead(tool="inspect", files=[path], samples=kept, model=log.eval.model, info=info)
