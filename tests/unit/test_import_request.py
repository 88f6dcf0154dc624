"""An import asked for in words: option checks, drift sources and column mappings, then the right importer."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tunesafe.config import ConfigError
from tunesafe.importers.completions import ImportColumns
from tunesafe.importers.request import (
    ImportRequest,
    drift_columns,
    import_sources,
    parse_column_specs,
    parse_drift_sources,
    parse_match,
)


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


# --------------------------------------------------------------------------- options


def test_defaults_give_nothing() -> None:
    assert not any(ImportRequest().given().values())
    assert not any(ImportRequest(audit="drift").given().values())
    ImportRequest().check()
    ImportRequest(audit="drift").check()


def test_given_options_in_order() -> None:
    request = ImportRequest(
        columns=ImportColumns(prompt="p", context="c", label="l"),
        split="test",
        judges=["keyword-extended"],
        trivia="t.json",
    )
    given = [flag for flag, on in request.given().items() if on]
    assert given == ["--prompt-col", "--context-col", "--label-col", "--split", "--judge", "--trivia"]


def test_drift_options_refused_for_completions() -> None:
    request = ImportRequest(condition="B", drift_columns=["published"], trivia="t.json", match="substring")
    with pytest.raises(ConfigError) as err:
        request.check()
    assert str(err.value) == "--condition, --columns, --trivia, --match: only for --audit drift"


def test_completion_options_refused_for_drift() -> None:
    request = ImportRequest(audit="drift", columns=ImportColumns(id="id"), label_judge="x", judges=["j"])
    with pytest.raises(ConfigError) as err:
        request.check()
    assert str(err.value) == "--id-col, --label-judge, --judge: not for --audit drift"


def test_other_audits_are_checked_as_completions() -> None:
    with pytest.raises(ConfigError, match=r"^--match: only for --audit drift$"):
        ImportRequest(audit="overrefusal", match="substring").check()


# --------------------------------------------------------------------------- drift arguments


def test_drift_sources() -> None:
    pairs = parse_drift_sources(["a.json:FIP", "b.json", "dir/c.json:FIPx3", "hf:org/name", "d.json:nope"], "B")
    assert pairs == [
        ("a.json", "FIP"),
        ("b.json", "B"),
        ("dir/c.json", "FIPx3"),
        ("hf:org/name", "B"),
        ("d.json:nope", "B"),
    ]
    assert parse_drift_sources(["a.json", ":RIP"], None) == [("a.json", None), (":RIP", None)]


def test_column_specs() -> None:
    assert parse_column_specs([]) == ({}, False)
    assert parse_column_specs(["question_id=qid, answer=ans", "gold=true"]) == (
        {"question_id": "qid", "answer": "ans", "gold": "true"},
        False,
    )
    assert parse_column_specs(["published,correct=", "entropy = H"]) == ({"correct": None, "entropy": "H"}, True)


@pytest.mark.parametrize("spec", ["answer", "=x", "correct="])
def test_column_specs_refused(spec: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_column_specs([spec])
    assert str(err.value) == f"--columns {spec!r}: write KEY=COLUMN (or 'published', then KEY= for no column)"


def test_drift_columns() -> None:
    assert drift_columns({"answer": "ans"}, False).answer == "ans"
    assert not drift_columns({"answer": "ans"}, False).detected
    published = drift_columns({"correct": None}, True)
    assert published.correct is None and "correct" not in published.detected and "answer" in published.detected
    with pytest.raises(ConfigError) as err:
        drift_columns({"nope": "1"}, False)
    assert str(err.value).startswith("--columns: nope: unknown key; keys: question_id, answer, condition,")


def test_match() -> None:
    assert parse_match("normalized") == "normalized"
    assert parse_match("substring") == "substring"
    with pytest.raises(ConfigError) as err:
        parse_match("exact")
    assert str(err.value) == "--match 'exact': use normalized or substring"


# --------------------------------------------------------------------------- the importer that fits


def test_imports_completions(tmp_path: Path) -> None:
    source = _write(tmp_path / "c.csv", [{"prompt": "hi", "completion": "I can't help with that."}])
    run = import_sources([str(source)], tmp_path / "run", ImportRequest(name="mine"))
    assert run.path == tmp_path / "run" and run.manifest().status == "success"
    with pytest.raises(ConfigError, match=r"^give one SOURCE \(several only with --audit drift\), not 2$"):
        import_sources([str(source), str(source)], tmp_path / "two", ImportRequest())
    with pytest.raises(ValueError, match="audit must be 'harmful' or 'overrefusal'"):
        import_sources([str(source)], tmp_path / "bad", ImportRequest(audit="truthfulness"))
    assert not (tmp_path / "two").exists() and not (tmp_path / "bad").exists()


def test_imports_drift(tmp_path: Path) -> None:
    rows = [{"id": "q1", "model_answer": "Paris", "true_answer": "Paris"}]
    b = _write(tmp_path / "b.csv", rows)
    fip = _write(tmp_path / "fip.csv", [{**rows[0], "model_answer": "Lyon"}])
    request = ImportRequest(audit="drift", drift_columns=["gold=true_answer"], match="substring")
    run = import_sources([f"{b}:B", f"{fip}:FIP"], tmp_path / "run", request)
    conditions = run.metrics()["drift"]["conditions"]
    assert conditions["B"]["accuracy"]["k"] == 1 and conditions["FIP"]["accuracy"]["k"] == 0
    # errors in the order the command states them: column syntax, then --match, then column keys
    with pytest.raises(ConfigError, match=r"^--columns 'x'"):
        import_sources([str(b)], tmp_path / "x", ImportRequest(audit="drift", drift_columns=["x"], match="exact"))
    with pytest.raises(ConfigError, match=r"^--match 'exact'"):
        import_sources([str(b)], tmp_path / "x", ImportRequest(audit="drift", drift_columns=["x=1"], match="exact"))
    assert not (tmp_path / "x").exists()
