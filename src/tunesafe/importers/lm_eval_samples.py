"""lm-evaluation-harness ``--log_samples`` output as tunesafe samples, read as plain JSONL (no lm_eval import).

Mapping (one :class:`~tunesafe.importers.logs.LogSample` per doc and repeat, ``generate_until`` tasks only):

- prompt: the prompt as sent, ``arguments.gen_args_0.arg_0``, as one user turn (when lm-eval applied a chat
  template it holds the template's markup: ``prompt`` names a doc field, ``FIELD`` or ``doc.FIELD``, to take
  the user turn from instead; ``id``, ``category`` and ``subset`` name doc fields the same way);
- completion: the raw generation, ``resps[0]`` (``filtered_resps`` are answers extracted for a metric; they
  are kept in the metadata per filter); a task with ``repeats: n`` gives n completions per doc, ids
  ``-r2`` … ``-r<n>`` after the first;
- id: ``<task>-<doc_id>`` (or the doc field ``id``); subset: the task (or a doc field); category: the doc's
  ``category`` field when it has one (or the doc field named);
- labels: a per-sample metric named by ``label`` (``metric`` or ``metric,filter`` as lm-eval's results
  write it) becomes the imported label, read as :func:`~tunesafe.judges.labels.parse_label` reads labels
  (1/0, yes/no, …); every metric, the target and the doc are kept in the metadata;
- model: ``model_name`` of the results file beside the samples, when there is one.

One doc appears once per filter; its first line gives the prompt and completion. Loglikelihood-type tasks
(``loglikelihood``, ``loglikelihood_rolling``, ``multiple_choice``) hold log-likelihoods of given
continuations, not generated text: they are refused with a clear error.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from tunesafe.importers.lm_eval_files import LmEvalRun, locate_run, model_name
from tunesafe.importers.logs import LogImportError, LogOptions, LogRead, LogSample, repeat_id
from tunesafe.judges.labels import label_verdict
from tunesafe.types import Completion

logger = logging.getLogger(__name__)

REQUIRED = ("doc_id", "doc", "arguments", "resps")
GENERATE = "generate_until"


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The file's JSON objects, one a line (blank lines skipped).

    Raises:
        LogImportError: invalid JSON, a line that is no lm-eval sample, an empty file.
    """
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise LogImportError(f"{path}:{number}: not valid JSON ({err.msg})") from err
            missing = [k for k in REQUIRED if not isinstance(row, dict) or k not in row]
            if missing:
                raise LogImportError(
                    f"{path}:{number}: not an lm-eval samples line (no {', '.join(missing)}); give the "
                    "samples_<task>_<time>.jsonl files lm_eval --log_samples writes"
                )
            rows.append(row)
    if not rows:
        raise LogImportError(f"{path}: holds no samples")
    return rows


def output_type(task: str, rows: list[dict[str, Any]], run: LmEvalRun) -> str:
    """The task's output type: from the results file's config, else from the first sample's shape."""
    config = (run.results.get("configs") or {}).get(task) or {}
    if isinstance(config, dict) and isinstance(config.get("output_type"), str):
        return str(config["output_type"])
    args = (rows[0]["arguments"] or {}).get("gen_args_0") or {}
    return GENERATE if isinstance(args.get("arg_1"), dict) else "loglikelihood"


def _field(doc: Any, name: str, where: str, flag: str) -> str:
    """The doc's field ``name`` (``doc.`` before it is optional) as text."""
    key = name.removeprefix("doc.")
    if not isinstance(doc, dict) or doc.get(key) in (None, ""):
        keys = ", ".join(map(str, doc)) if isinstance(doc, dict) else "none"
        raise LogImportError(f"{where}: {flag} {key!r}: the doc has no such field; doc fields: {keys}")
    return str(doc[key])


def _prompt(row: dict[str, Any], options: LogOptions, where: str) -> str:
    if options.prompt:
        return _field(row["doc"], options.prompt, where, "--prompt-col")
    args = row["arguments"].get("gen_args_0") if isinstance(row["arguments"], dict) else None
    prompt = args.get("arg_0") if isinstance(args, dict) else None
    if not isinstance(prompt, str):
        raise LogImportError(f"{where}: no prompt text in arguments.gen_args_0.arg_0")
    return prompt


def _completions(row: dict[str, Any], where: str) -> list[str]:
    resps = row["resps"]
    if not (isinstance(resps, list) and len(resps) == 1 and isinstance(resps[0], list) and resps[0]):
        raise LogImportError(f"{where}: resps is not one request's generations ([[text, …]])")
    if not all(isinstance(text, str) for text in resps[0]):
        raise LogImportError(f"{where}: resps holds no generated text (a loglikelihood-type sample?)")
    return list(resps[0])


def _metrics(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per filter: the per-sample metric values the lines hold."""
    return {
        str(line.get("filter", "none")): {m: line[m] for m in line.get("metrics") or [] if m in line} for line in lines
    }


def _label(metrics: dict[str, dict[str, Any]], label: str) -> tuple[bool, Any]:
    name, _, wanted = label.partition(",")
    for filter_name, values in metrics.items():
        if (not wanted or filter_name == wanted) and name in values:
            return True, values[name]
    return False, None


def doc_samples(
    task: str, lines: list[dict[str, Any]], options: LogOptions, where: str
) -> tuple[list[LogSample], bool]:
    """The samples of one doc (its lines, one per filter), and whether the label metric was found."""
    first = lines[0]
    doc = first["doc"]
    metrics = _metrics(lines)
    found, value = _label(metrics, options.label) if options.label else (False, None)
    base = _field(doc, options.id, where, "--id-col") if options.id else f"{task}-{first['doc_id']}"
    category = _field(doc, options.category, where, "--category-col") if options.category else None
    if category is None and isinstance(doc, dict) and doc.get("category") not in (None, ""):
        category = str(doc["category"])
    subset = _field(doc, options.subset, where, "--subset-col") if options.subset else task
    messages = [{"role": "user", "content": _prompt(first, options, where)}]
    metadata = {
        "task": task,
        "doc_id": first["doc_id"],
        "target": first.get("target"),
        "metrics": metrics,
        "filtered_resps": {str(line.get("filter", "none")): line.get("filtered_resps") for line in lines},
        "doc": doc,
    }
    samples = [
        LogSample(
            sample_id=repeat_id(base, number, "r"),
            messages=messages,
            completion=Completion(text=text),
            category=category,
            subset=subset,
            verdicts=[label_verdict(value, options.label_judge)] if options.label else [],
            metadata={**metadata, "repeat": number},
        )
        for number, text in enumerate(_completions(first, where), start=1)
    ]
    return samples, found


def task_samples(task: str, path: Path, run: LmEvalRun, options: LogOptions) -> tuple[list[LogSample], bool]:
    """One samples file's samples (docs in doc_id order), and whether the label metric was found."""
    rows = read_lines(path)
    kind = output_type(task, rows, run)
    if kind != GENERATE:
        raise LogImportError(
            f"{path}: task {task!r} is a {kind} task: its samples hold log-likelihoods of given answers, not "
            f"generated text; tunesafe imports {GENERATE} tasks (completions) only"
        )
    by_doc: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        by_doc.setdefault(json.dumps(row["doc_id"]), []).append(row)
    out, found = [], False
    for lines in by_doc.values():
        samples, has_label = doc_samples(task, lines, options, f"{path}: doc_id {lines[0]['doc_id']}")
        out += samples
        found = found or has_label
    return out, found


def read_lm_eval(source: str | Path, options: LogOptions | None = None) -> LogRead:
    """Read an lm-eval run (a samples file, its results file, or its output folder) into tunesafe samples.

    Raises:
        LogImportError: see :func:`~tunesafe.importers.lm_eval_files.locate_run`, :func:`read_lines`; a
            loglikelihood-type task; a doc field or metric named in ``options`` that the log lacks.
    """
    options = options or LogOptions()
    run = locate_run(Path(source))
    samples: list[LogSample] = []
    found = False
    for task, path in run.samples:
        more, has_label = task_samples(task, path, run, options)
        samples += more
        found = found or has_label
    if options.label and not found:
        raise LogImportError(
            f"{source}: no per-sample metric {options.label!r} in the samples; metrics: "
            + (", ".join(sorted({m for s in samples for f in s.metadata["metrics"].values() for m in f})) or "none")
        )
    results = run.results
    if results.get("chat_template") and not options.prompt:
        logger.warning(
            "%s: lm-eval applied a chat template, so each prompt holds its markup; "
            "--prompt-col doc.FIELD takes the user turn from the doc instead",
            source,
        )
    info = {
        "tasks": [task for task, _ in run.samples],
        "samples_files": [str(path) for _, path in run.samples],
        "results_file": str(run.results_path) if run.results_path else None,
        "lm_eval_version": results.get("lm_eval_version"),
        "config": results.get("config"),
        "chat_template_applied": bool(results.get("chat_template")),
        "system_instruction": results.get("system_instruction"),
        "label_metric": options.label,
    }
    files = [path for _, path in run.samples] + ([run.results_path] if run.results_path else [])
    return LogRead(tool="lm-eval", files=files, samples=samples, model=model_name(results), info=info)
