"""Read per-answer knowledge-drift files: which columns hold what, and each row's cells, validated.

Kumar 2024 (arXiv 2409.19476) publishes one file per model and prompt condition (``B``, ``FIP``,
``RIP``), written by pandas ``DataFrame.to_json()`` (one object of columns, read by
:func:`tunesafe.data.tables.read_table`), one row per question: ``id, question, true_answer``, the
answer in ``model_baseprompt_answer`` / ``model_falsecontext_answer`` / ``model_randomcontext_answer``,
``correct_gen_ans``, ``false_context`` or ``random_context``, and ``uncertainty``
(``{"avg_entropy": [x], "avg_perplexity": [x], "avg_probability": [x]}``). :class:`DriftColumns`
maps any such file; ``DriftColumns.published()`` finds Kumar 2024's columns per file.

Per answer: correctness is taken from a correctness column when one is named, else recomputed
with :func:`tunesafe.audits.answers.matches` from a true-answer column or a trivia file (whose aliases
count); adoption of the injected wrong answer is recomputed from a wrong-answer column or the
trivia file; uncertainty metrics are taken as given (never recomputed: the logits are not in the
files). :mod:`tunesafe.importers.drift` turns the rows into a run directory.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr

from tunesafe.audits import drift
from tunesafe.audits.answers import adopted, matches
from tunesafe.audits.drift_conditions import parse_condition
from tunesafe.data.tables import Row, is_empty, read_table, require_columns, table_sha256
from tunesafe.data.trivia import TriviaItem
from tunesafe.importers.completions import optional_cell, text_cell
from tunesafe.types import Completion

MatchMode = Literal["normalized", "substring"]
CORRECT_VALUES = frozenset({"true", "t", "yes", "y", "1", "1.0", "correct", "right"})
INCORRECT_VALUES = frozenset({"false", "f", "no", "n", "0", "0.0", "incorrect", "wrong"})

# Kumar 2024's files (knowledge_drift/notebooks/knowledge-drift-*.ipynb): the answer column names the condition
PUBLISHED_ANSWERS = {
    "model_baseprompt_answer": "B",
    "model_falsecontext_answer": "FIP",
    "model_randomcontext_answer": "RIP",
}
PUBLISHED_CONTEXTS = {"B": (), "FIP": ("false_context", "context"), "RIP": ("random_context", "context")}
# their nested ``uncertainty`` cell, flattened to ``outer.field`` columns; H is the top-10 entropy (compat's)
PUBLISHED_METRICS = {
    "probability": "uncertainty.avg_probability",
    "perplexity": "uncertainty.avg_perplexity",
    "entropy": "uncertainty.avg_entropy",
    "entropy_topk": "uncertainty.avg_entropy",
}
_PUBLISHED_PLAIN = {"gold": "true_answer", "wrong_answer": "wrong_answer", "question": "question"}
_PUBLISHED_CORRECT = "correct_gen_ans"
_DETECTED = ("answer", "correct", "context", *_PUBLISHED_PLAIN, *PUBLISHED_METRICS)


class DriftColumns(BaseModel):
    """Which columns of the per-answer files hold what (only ``question_id`` and ``answer`` are required).

    ``correct``: a correctness column (true/false, 1/0, yes/no, correct/incorrect), taken as given;
    without it correctness is recomputed from ``gold`` (a true-answer column) or the trivia file.
    ``condition`` is needed only for files given without a fixed condition; ``run`` numbers several
    answers to one question (majority vote). Metric columns are taken as given (empty → missing).
    """

    model_config = ConfigDict(extra="forbid")

    question_id: str = "id"
    answer: str = "model_answer"
    condition: str | None = None
    correct: str | None = None
    gold: str | None = None
    wrong_answer: str | None = None
    question: str | None = None
    context: str | None = None
    run: str | None = None
    probability: str | None = None
    perplexity: str | None = None
    entropy: str | None = None
    entropy_topk: str | None = None
    _detect: frozenset[str] = PrivateAttr(default=frozenset())  # keys found per file (``published``)

    @classmethod
    def published(cls, /, **overrides: str | None) -> DriftColumns:
        """Kumar 2024's output files, read as published: every key not in ``overrides`` is found per file.

        The answer column tells the condition (``model_baseprompt_answer`` B, ``model_falsecontext_answer``
        FIP, ``model_randomcontext_answer`` RIP; plain ``model_answer`` tells none); ``correct_gen_ans`` is
        the correctness column, taken as given; ``true_answer``, ``wrong_answer``, ``question`` and the
        condition's context column (``false_context`` / ``random_context`` / ``context``) are used when
        present; a nested ``uncertainty`` cell gives the four metrics (``avg_entropy`` as both entropies,
        as compat mode). An override of ``None`` switches a key off (``correct=None``: recompute).
        """
        base: dict[str, str | None] = {"gold": "true_answer", "question": "question"}
        columns = cls.model_validate({**base, **overrides})
        columns._detect = frozenset(_DETECTED) - set(overrides)
        return columns

    @property
    def detected(self) -> frozenset[str]:
        """The keys found per file (``published``); empty for a plain mapping."""
        return self._detect

    def for_file(self, header: Collection[str], fixed: str | None, source: str) -> tuple[DriftColumns, str | None]:
        """The columns one file is read with, and its condition (``fixed``, or told by a published answer column).

        Raises:
            ValueError: no answer column, several, or a ``fixed`` condition its answer column contradicts.
        """
        if not self._detect:
            return self, fixed
        found = self.model_dump()
        kind = None
        if "answer" in self._detect:
            found["answer"], kind = _published_answer(header, source)
        condition = _published_condition(fixed, kind, found["answer"], self.condition, source)
        for key, name in _PUBLISHED_PLAIN.items():
            if key in self._detect:
                found[key] = name if name in header else None
        if "correct" in self._detect:
            found["correct"] = _PUBLISHED_CORRECT if _PUBLISHED_CORRECT in header else None
        if "context" in self._detect:
            kind_now = parse_condition(condition)[0] if condition else None
            names = PUBLISHED_CONTEXTS.get(kind_now or "", ("context",))
            found["context"] = next((c for c in names if c in header), None)
        for metric, path in PUBLISHED_METRICS.items():
            if metric in self._detect:
                found[metric] = path if path.partition(".")[0] in header else None
        return DriftColumns.model_validate(found), condition


def _published_answer(header: Collection[str], source: str) -> tuple[str, str | None]:
    """Kumar 2024's answer column and the condition it holds; ``model_answer`` holds none in particular."""
    present = [c for c in PUBLISHED_ANSWERS if c in header]
    if len(present) > 1:
        raise ValueError(f"{source}: several answer columns ({', '.join(present)}); give one file per condition")
    if present:
        return present[0], PUBLISHED_ANSWERS[present[0]]
    if "model_answer" in header:
        return "model_answer", None
    wanted = ", ".join([*PUBLISHED_ANSWERS, "model_answer"])
    raise ValueError(f"{source}: missing column(s): an answer column, one of {wanted}; available: {', '.join(header)}")


def _published_condition(
    fixed: str | None, kind: str | None, answer: str, condition_column: str | None, source: str
) -> str | None:
    """The given condition, checked against the answer column's; else the answer column's (no condition column)."""
    if fixed is None:
        return kind if condition_column is None else None
    if kind is not None and parse_condition(fixed)[0] != kind:
        raise ValueError(
            f"{source}: given as {fixed}, but its answer column {answer!r} holds Kumar 2024's {kind} answers; "
            f"write {source}:{kind} (or leave the condition out)"
        )
    return fixed


def parse_correct(value: Any) -> bool | None:
    """A correctness cell: True / False, or None when it is not one of the accepted spellings.

    Accepted (case-insensitive, stripped): true, t, yes, y, 1, correct, right → True; false, f, no,
    n, 0, incorrect, wrong → False; booleans and the numbers 1 and 0 too.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return True if value == 1 else False if value == 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    return True if text in CORRECT_VALUES else False if text in INCORRECT_VALUES else None


def _metric(value: Any, column: str, where: str) -> float | None:
    """A metric cell as a float; empty, NaN or infinite → None (missing, never made up)."""
    if is_empty(value):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{where}: {column!r} holds a boolean, expected a number")
    try:
        number = float(value)
    except OverflowError:  # an integer past float's range (JSON allows any): infinite, as float("1e999")
        return None
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {column!r} holds {value!r}, expected a number") from None
    return number if math.isfinite(number) else None


def _answer(value: Any, column: str, where: str) -> str:
    """The model's answer text; an empty cell is an empty answer (correct under no rule)."""
    if is_empty(value):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"{where}: {column!r} holds a {type(value).__name__}, expected text")


@dataclass
class AnswerRow:
    """One validated answer before run indices are assigned."""

    source: str
    number: int
    condition: str
    question_id: str
    run: Any
    record: dict[str, Any]  # SampleRecord fields, less sample_id and the run index


def check_condition(name: str, where: str) -> str:
    """``name`` when it is a drift condition (B, FIP, FIPx<n>, RIP); else a ValueError that starts with ``where``."""
    try:
        parse_condition(name)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    return name


def read_answer_file(
    text: str,
    fixed: str | None,
    columns: DriftColumns,
    trivia: dict[str, TriviaItem] | None,
    match: MatchMode,
    counts: Counter[str],
) -> tuple[list[AnswerRow], dict[str, Any]]:
    """Validate one file's rows; returns them and the file's provenance (sha256, condition, rows, columns).

    ``fixed``: the file's condition, or None to read it from ``columns.condition``; ``trivia``: questions by
    id; ``counts`` gathers empty answers and disagreements with the match rule across files.
    """
    rows = read_table(text)
    require_columns(rows, (), text)
    sha = table_sha256(text, rows)
    columns, fixed = columns.for_file(list(rows[0]), fixed, text)
    if fixed is None and columns.condition is None:
        raise ValueError(
            f"{text}: no condition: give the file's condition (PATH:CONDITION, --condition) or a condition column"
        )
    if columns.correct is None and columns.gold is None and trivia is None:
        raise ValueError(f"{text}: correctness cannot be told: no correctness or true-answer column, no trivia file")
    named = {k: v for k, v in columns.model_dump().items() if v is not None and not (k == "condition" and fixed)}
    rows = nested_columns(rows, named.values(), text)
    require_columns(rows, named.values(), text)
    out = [_read_row(row, n, text, fixed, columns, trivia, match, counts) for n, row in enumerate(rows, start=1)]
    source = "column" if columns.correct else "true-answer column" if columns.gold else "trivia file"
    info = {
        "path": text,
        "condition": fixed,
        "sha256": sha,
        "n_rows": len(rows),
        "columns": named,
        "correctness": source,
    }
    return out, info


def nested_columns(rows: Sequence[Row], names: Iterable[str], source: str) -> list[Row]:
    """Rows with each wanted ``outer.field`` name lifted out of a nested object cell into a column of its own.

    Kumar 2024 stores each answer's uncertainty as ``{"avg_entropy": [x], "avg_perplexity": [x],
    "avg_probability": [x]}``: a one-element list is its element; an empty or longer list is an error
    naming the file, row and field. An empty cell gives an empty value. Names already columns, or
    whose ``outer`` is not a column, are left alone (a missing column is reported as such later).
    """
    header = rows[0] if rows else {}
    wanted = [n for n in names if "." in n and n not in header and n.partition(".")[0] in header]
    if not wanted:
        return list(rows)
    return [
        {**row, **{n: _nested_value(row, n, f"{source}: row {i}") for n in wanted}} for i, row in enumerate(rows, 1)
    ]


def _nested_value(row: Row, name: str, where: str) -> Any:
    outer, _, field = name.partition(".")
    cell = row.get(outer)
    if is_empty(cell):
        return None
    if not isinstance(cell, dict):
        raise ValueError(f"{where}: {outer!r} holds a {type(cell).__name__}, expected an object with {field!r}")
    if field not in cell:
        raise ValueError(f"{where}: {outer!r} has no field {field!r} (it has {', '.join(map(str, cell)) or 'none'})")
    value = cell[field]
    if not isinstance(value, list):
        return value
    if len(value) != 1:
        raise ValueError(
            f"{where}: {name!r} holds {len(value)} values, expected exactly one (Kumar 2024 writes each "
            "uncertainty metric as a one-element list)"
        )
    return value[0]


def _read_row(
    row: Row,
    number: int,
    source: str,
    fixed: str | None,
    columns: DriftColumns,
    trivia: dict[str, TriviaItem] | None,
    match: MatchMode,
    counts: Counter[str],
) -> AnswerRow:
    where = f"{source}: row {number}"
    qid = text_cell(row, columns.question_id, number, source).strip()
    condition = check_condition(fixed or text_cell(row, columns.condition or "", number, source).strip(), where)
    kind, repeats = parse_condition(condition)
    item = None
    if trivia is not None:
        item = trivia.get(qid)
        if item is None:
            raise ValueError(f"{where}: question id {qid!r} is not in the trivia file")
    text = _answer(row.get(columns.answer), columns.answer, where)
    counts["empty_answers"] += text == ""
    gold = optional_cell(row, columns.gold) or (item.answer if item else None)
    aliases = [a for a in ([item.answer, *item.aliases] if item else []) if a != gold]
    recomputed = matches(text, gold, aliases, mode=match) if gold is not None else None
    if columns.correct is not None:
        value = row.get(columns.correct)
        correct = parse_correct(value)
        if correct is None:
            raise ValueError(
                f"{where}: correctness {value!r} in column {columns.correct!r} is not true/false, 1/0, "
                "yes/no or correct/incorrect"
            )
        if recomputed is not None:
            counts["checked"] += 1
            counts["disagreements"] += recomputed != correct
    elif recomputed is None:
        raise ValueError(f"{where}: empty true-answer cell {columns.gold!r}; correctness cannot be recomputed")
    else:
        correct = recomputed
    wrong = optional_cell(row, columns.wrong_answer) or (item.wrong_answer if item else None)
    question = optional_cell(row, columns.question) or (item.question if item else None)
    context = None
    if kind != "B":
        context = optional_cell(row, columns.context) or (item.false_context if item and kind == "FIP" else None)
    scores: dict[str, Any] = {
        "correct": correct,
        "adopted": False if kind == "B" else adopted(text, wrong) if wrong is not None else None,
        **{m: _metric(row.get(c), c, where) if (c := getattr(columns, m)) else None for m in drift.METRICS},
        "n_steps": None,
    }
    contexts = [context] * repeats if context else []
    prompt = " ".join([*contexts, question or f"[question {qid}]"])
    run = text_cell(row, columns.run, number, source).strip() if columns.run else None
    metadata: dict[str, Any] = {
        "question_id": qid,
        "answer": gold,
        "aliases": aliases,
        "wrong_answer": wrong,
        "context": context,
        "source": source,
        "source_row": number,
        "drift": scores,
    }
    if run is not None:
        metadata["source_run"] = run
    record = {
        "audit": drift.NAME,
        "category": item.domain if item else None,
        "condition": condition,
        "messages": [{"role": "user", "content": prompt}],
        "completion": Completion(text=text),
        "metadata": metadata,
    }
    return AnswerRow(source, number, condition, qid, run, record)
