"""Property-based tests (hypothesis) of the importers' parsers (issue 15).

Knowledge-drift files (``tunesafe.importers.drift_files`` and ``drift``: cells, correctness spellings,
nested uncertainty cells, the published layout), the completions importer's column mapping
(``tunesafe.importers.completions``) and the option texts of ``tunesafe import``
(``tunesafe.importers.request``: ``PATH[:CONDITION]``, ``KEY=COLUMN``, ``--match``). Properties: any
cell or option text is read or refused with the module's ``ValueError`` / ``ConfigError`` naming the
file (or option), never another exception; what is written reads back unchanged.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tunesafe._util.io import read_jsonl
from tunesafe.config import ConfigError
from tunesafe.data.harmbench import CONTEXT_SEPARATOR
from tunesafe.data.tables import read_table, write_table
from tunesafe.importers.completions import (
    HARMBENCH_LAYOUT,
    ImportColumns,
    build_records,
    import_completions,
    resolve_columns,
)
from tunesafe.importers.drift import build_drift_records
from tunesafe.importers.drift_files import (
    CORRECT_VALUES,
    INCORRECT_VALUES,
    PUBLISHED_ANSWERS,
    DriftColumns,
    nested_columns,
    parse_correct,
)
from tunesafe.importers.request import drift_columns, parse_column_specs, parse_drift_sources, parse_match
from tunesafe.results import RunDir

SETTINGS = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

TEXT = st.text(st.characters(codec="utf-8") | st.sampled_from(',"\n\r\t :=.'), max_size=15)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**308, max_value=10**400),  # past float's range
    st.floats(),
    TEXT,
)
CELLS = st.recursive(SCALARS, lambda c: st.lists(c, max_size=2) | st.dictionaries(TEXT, c, max_size=2), max_leaves=4)
CONDITIONS = st.sampled_from(["B", "FIP", "RIP", "FIPx2", "FIPx10"])
DRIFT_KEYS = list(DriftColumns.model_fields)


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh folder per hypothesis example."""
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    # not json.dumps's NaN / Infinity only: those are what pandas writes too, and read_table reads them
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def assert_clean_value_error(err: ValueError, *names: str) -> None:
    """The importers' documented error: a ValueError of their own naming the file, not a pydantic error."""
    assert not isinstance(err, ValidationError), err
    assert any(name in str(err) for name in names), err


# --------------------------------------------------------------------------- drift cells


@SETTINGS
@given(value=CELLS | st.sampled_from(sorted(CORRECT_VALUES | INCORRECT_VALUES)))
def test_parse_correct_gives_a_bool_or_none(value: Any) -> None:
    result = parse_correct(value)
    assert result in (True, False, None)
    if isinstance(value, (list, dict)) or value is None:
        assert result is None


@SETTINGS
@given(
    word=st.sampled_from(sorted(CORRECT_VALUES | INCORRECT_VALUES)),
    case=st.sampled_from([str.lower, str.upper, str.title]),
    pad=st.text(" \t\n", max_size=3),
)
def test_every_correctness_spelling_is_read_in_any_case(word: str, case: Any, pad: str) -> None:
    assert parse_correct(f"{pad}{case(word)}{pad}") is (word in CORRECT_VALUES)


NUMBERS = st.one_of(
    st.none(), st.integers(), st.integers(min_value=10**308, max_value=10**400), st.floats(), st.floats().map(str)
)
GOOD_CELLS = {
    "ans": st.one_of(st.none(), TEXT, st.integers(), st.floats()),
    "ok": st.one_of(st.sampled_from(sorted(CORRECT_VALUES | INCORRECT_VALUES)), st.booleans(), st.sampled_from([0, 1])),
    "p": NUMBERS,
    "u": st.none() | st.fixed_dictionaries({"avg_entropy": st.lists(NUMBERS, min_size=1, max_size=1)}),
}


@st.composite
def drift_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Rows mostly well formed (so imports succeed too), with any cell replaced by any JSON now and then."""
    garbage = draw(st.sampled_from([0.0, 0.1, 0.5]))
    rows = []
    for i in range(draw(st.integers(min_value=1, max_value=4))):
        row = {
            "id": f"q{i}" if garbage == 0.0 else draw(st.one_of(TEXT, st.integers(), st.sampled_from(["q1", "q2"]))),
            "cond": "B" if i == 0 and garbage == 0.0 else draw(st.one_of(CONDITIONS, TEXT)),
        }
        for key, good in GOOD_CELLS.items():
            odd = draw(st.floats(min_value=0.0, max_value=1.0)) < garbage
            row[key] = draw(CELLS if odd else good)
        rows.append(row)
    return rows


DRIFT_ROWS = drift_rows()


@SETTINGS
@given(rows=DRIFT_ROWS, fixed=st.none() | st.just("B") | CONDITIONS)
@example(
    rows=[{"id": "q1", "ans": "Paris", "ok": "yes", "cond": "B", "p": 10**400, "u": None}], fixed="B"
)  # found: OverflowError from float() of a huge JSON integer in a metric column
def test_drift_files_of_any_cells_import_or_name_the_file_and_row(
    rows: list[dict[str, Any]], fixed: str | None
) -> None:
    columns = DriftColumns(
        question_id="id", answer="ans", condition=None if fixed else "cond", correct="ok", probability="p",
        entropy="u.avg_entropy",
    )  # fmt: skip
    with scratch() as folder:
        path = write_jsonl(folder / "answers.jsonl", rows)
        try:
            records, conditions, provenance = build_drift_records([(path, fixed)], columns)
        except ValueError as err:
            assert_clean_value_error(err, str(path), "conditions", "no answers under B")
            return
    assert len(records) == len(rows) and conditions[0] == "B"
    for record in records:
        scores = record.metadata["drift"]
        assert scores["correct"] in (True, False)
        for metric in ("probability", "entropy"):
            assert scores[metric] is None or (isinstance(scores[metric], float) and math.isfinite(scores[metric]))


def test_regression_huge_integer_metric_is_missing_not_a_crash(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [{"id": "q1", "model_answer": "Paris", "correct": 1, "p": 10**400}])
    columns = DriftColumns(correct="correct", probability="p")
    records, _, _ = build_drift_records([(path, "B")], columns)
    assert records[0].metadata["drift"]["probability"] is None  # as float("1e400") = inf: missing


@SETTINGS
@given(
    cells=st.lists(st.one_of(CELLS, st.fixed_dictionaries({"f": st.lists(SCALARS, max_size=2)})), min_size=1),
)
def test_nested_cells_give_their_one_value_or_name_the_row(cells: list[Any]) -> None:
    rows = [{"outer": cell} for cell in cells]
    try:
        lifted = nested_columns(rows, ["outer.f"], "file.json")
    except ValueError as err:
        assert str(err).startswith("file.json: row ")
        return
    for cell, row in zip(cells, lifted, strict=True):
        value = row["outer.f"]
        if isinstance(cell, dict) and isinstance(cell["f"], list):
            assert value == cell["f"][0]
        elif isinstance(cell, dict):
            assert value == cell["f"]
        else:
            assert value is None


@SETTINGS
@given(header=st.lists(st.sampled_from([*PUBLISHED_ANSWERS, "model_answer", "id", "x"]) | TEXT, max_size=5))
def test_published_layout_picks_one_answer_column_or_says_why(header: list[str]) -> None:
    present = [c for c in PUBLISHED_ANSWERS if c in header]
    try:
        found, condition = DriftColumns.published().for_file(header, None, "k.json")
    except ValueError as err:
        assert str(err).startswith("k.json: ")
        assert len(present) > 1 or (not present and "model_answer" not in header)
        return
    assert found.answer in header
    assert condition == (PUBLISHED_ANSWERS[found.answer] if present else None)


# --------------------------------------------------------------------------- tunesafe import options

PATHS = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=20)


@SETTINGS
@given(path=PATHS, condition=CONDITIONS, default=st.none() | CONDITIONS)
@example(path="hf:org/name", condition="FIP", default=None)
@example(path="C:\\data\\a.json", condition="B", default=None)
def test_drift_source_and_condition_round_trip(path: str, condition: str, default: str | None) -> None:
    assert parse_drift_sources([f"{path}:{condition}"], default) == [(path, condition)]


@SETTINGS
@given(text=st.text(max_size=30), default=st.none() | CONDITIONS)
def test_drift_sources_never_raise_and_keep_the_text(text: str, default: str | None) -> None:
    [(path, condition)] = parse_drift_sources([text], default)
    assert path == text or f"{path}:{condition}" == text
    assert condition is None or condition in ("B", "RIP") or condition.startswith("FIP")


COLUMN_WORD = (
    st.text(st.characters(codec="utf-8", exclude_characters=",="), min_size=1, max_size=12).map(str.strip).filter(bool)
)


@SETTINGS
@given(mapping=st.dictionaries(COLUMN_WORD, COLUMN_WORD | COLUMN_WORD.map(lambda v: v + "=x"), max_size=4))
def test_column_specs_round_trip(mapping: dict[str, str]) -> None:
    spec = ",".join(f"{k}={v}" for k, v in mapping.items())
    assume(mapping)
    assert parse_column_specs([spec]) == (mapping, False)
    # split over several --columns options, with spaces around the items
    assert parse_column_specs([f" {k} = {v} " for k, v in mapping.items()]) == (mapping, False)


@SETTINGS
@given(specs=st.lists(st.text(max_size=20), max_size=3))
def test_column_specs_parse_or_raise_config_error(specs: list[str]) -> None:
    try:
        mapping, published = parse_column_specs(specs)
    except ConfigError as err:
        assert str(err).startswith("--columns ")
        return
    assert all(k == k.strip() and k for k in mapping)
    assert all(v is None or (v == v.strip() and v) for v in mapping.values())
    assert all(v is not None for v in mapping.values()) or published


@SETTINGS
@given(
    mapping=st.dictionaries(st.sampled_from(DRIFT_KEYS) | TEXT, st.none() | COLUMN_WORD, max_size=4),
    published=st.booleans(),
)
@example(mapping={"answer": None}, published=True)  # found: "answer: unknown key" for a known key
@example(mapping={"cls": "x"}, published=True)  # found: TypeError (published(cls, **overrides) got cls twice)
def test_drift_columns_name_the_real_problem(mapping: dict[str, str | None], published: bool) -> None:
    try:
        columns = drift_columns(mapping, published)
    except ConfigError as err:
        message = str(err)
        assert message.startswith("--columns: ")
        if "unknown key" in message:
            key = message.removeprefix("--columns: ").split(": unknown key")[0]
            assert key not in DRIFT_KEYS and key in mapping
        else:
            assert any(f"--columns: {k}: " in message for k in mapping if k in DRIFT_KEYS)
        return
    assert set(mapping) <= set(DRIFT_KEYS)
    assert all(getattr(columns, k) == v for k, v in mapping.items())


@pytest.mark.parametrize("published", [True, False])
def test_regression_switching_off_a_required_column_is_not_an_unknown_key(published: bool) -> None:
    with pytest.raises(ConfigError, match=r"^--columns: answer: .*cannot be switched off") as caught:
        drift_columns({"answer": None}, published)
    assert "unknown key" not in str(caught.value)


def test_regression_a_column_key_named_cls_is_an_unknown_key() -> None:
    with pytest.raises(ConfigError, match=r"^--columns: cls: unknown key"):
        drift_columns({"cls": "x"}, published=True)


@SETTINGS
@given(text=st.text(max_size=12) | st.sampled_from(["normalized", "substring", "Substring", " normalized"]))
def test_match_is_one_of_two_words(text: str) -> None:
    try:
        mode = parse_match(text)
    except ConfigError as err:
        assert text not in ("normalized", "substring") and str(err).startswith("--match ")
        return
    assert mode == text


# --------------------------------------------------------------------------- completions: column mapping

HEADER_NAMES = st.sampled_from(
    [*HARMBENCH_LAYOUT, "prompt", "completion", "generation", "SemanticCategory", "FunctionalCategory", "x"]
)
COLUMNS = st.builds(
    ImportColumns,
    prompt=st.sampled_from(["prompt", "Behavior", "q"]),
    completion=st.sampled_from(["completion", "generation", "a"]),
    category=st.none() | st.sampled_from(["SemanticCategory", "cat"]),
    id=st.none() | st.sampled_from(["BehaviorID", "id"]),
    subset=st.none() | st.just("FunctionalCategory"),
    label=st.none() | st.just("label"),
    context=st.none() | st.sampled_from(["ContextString", "ctx"]),
)


@SETTINGS
@given(columns=COLUMNS, header=st.lists(HEADER_NAMES | TEXT, max_size=8))
def test_resolve_columns_fills_only_unmapped_columns_from_the_header(columns: ImportColumns, header: list[str]) -> None:
    resolved = resolve_columns(columns, header)
    for key, before in columns.model_dump().items():
        after = getattr(resolved, key)
        if after != before:
            assert after in header  # a HarmBench name the file has
            assert before is None or before == key  # only defaults are replaced
    if not set(HARMBENCH_LAYOUT) <= set(header):
        assert resolved == columns


ROW_CELLS = st.one_of(CELLS, TEXT.filter(lambda t: t.strip()))


@SETTINGS
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {"prompt": ROW_CELLS, "completion": ROW_CELLS, "id": st.none() | TEXT, "label": CELLS, "ctx": CELLS}
        ),
        min_size=1,
        max_size=4,
    ),
    use_id=st.booleans(),
)
def test_build_records_reads_or_names_the_row(rows: list[dict[str, Any]], use_id: bool) -> None:
    columns = ImportColumns(id="id" if use_id else None, label="label", context="ctx")
    try:
        records = build_records(rows, columns, audit="harmful", source="gens.jsonl", label_judge="L", id_prefix="p")
    except ValueError as err:
        assert_clean_value_error(err, "gens.jsonl: ")
        return
    assert len(records) == len(rows)
    assert len({r.sample_id for r in records}) == len(records)
    for row, record in zip(rows, records, strict=True):
        assert record.completion.text == str(row["completion"])
        assert record.messages[-1]["content"].endswith(str(row["prompt"]))
        assert [v.judge for v in record.verdicts] == ["L"] and record.verdicts[0].score in (0.0, 1.0, None)


@settings(max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {"prompt": TEXT.filter(str.strip), "completion": TEXT.filter(str.strip), "ctx": st.none() | TEXT}
        ),
        min_size=1,
        max_size=3,
    ),
    suffix=st.sampled_from([".csv", ".jsonl", ".parquet"]),
)
def test_import_completions_round_trip(rows: list[dict[str, Any]], suffix: str) -> None:
    """A written table imports into a run whose records hold exactly its texts (context joined as HarmBench's)."""
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    with scratch() as folder:
        source = write_table(rows, folder / f"gens{suffix}")
        written = read_table(source)
        run = import_completions(source, folder / "run", columns=ImportColumns(context="ctx"))
        assert isinstance(run, RunDir)
        records = list(read_jsonl(folder / "run" / "samples" / "harmful.jsonl"))
    assert [r["completion"]["text"] for r in records] == [w["completion"] for w in written]
    for record, row in zip(records, written, strict=True):
        context = row["ctx"] if row["ctx"] and row["ctx"].strip() else None  # a blank cell: no context
        expected = f"{context}{CONTEXT_SEPARATOR}{row['prompt']}" if context else row["prompt"]
        assert record["messages"] == [{"role": "user", "content": expected}]
