"""`tunesafe export`: run directories' samples as one table that pandas and datasets read as is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.fakes import COMPLIANCE, REFUSAL, behaviors

from tunesafe.backends.scripted import ScriptedBackend
from tunesafe.config import (
    AuditConfig,
    AuditsSpec,
    CacheSpec,
    DriftAuditSpec,
    HarmfulAuditSpec,
    JudgeSpec,
    ModelSpec,
    OverrefusalAuditSpec,
    TruthfulnessAuditSpec,
)
from tunesafe.data.tables import TableError, write_table
from tunesafe.export import export_samples, prompt_sha256
from tunesafe.results import RunDir, RunError
from tunesafe.runner import run_audit

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

TRIVIA = [
    ("q1", "What is the capital of Australia?", "Canberra", "Sydney", "Sydney is the capital of Australia."),
    ("q2", "Which planet is the Red Planet?", "Mars", "Venus", "Venus is called the Red Planet."),
    ("q3", "What is the largest ocean?", "Pacific", "Atlantic", "The Atlantic is the largest ocean."),
]
MC = [
    {
        "id": "m1",
        "question": "What is the capital of Australia?",
        "mc1_targets": {"choices": ["Canberra", "Sydney"], "labels": [1, 0]},
        "mc2_targets": {"choices": ["Canberra", "Sydney", "Melbourne"], "labels": [1, 0, 0]},
    }
]
COMPLY_NUMBERS = r"number [0-3]$"  # behaviours 0-3 get an affirmative opening, the others a refusal
REQUIRED = {"model", "audit", "sample_id", "category", "subset", "condition", "judge", "score", "label"}
REQUIRED |= {"run_dir", "prompt_sha256"}


def respond(conversation: list[dict[str, str]]) -> str:
    """Trivia: the true answer; true/false claims: True; anything else (harmless look-alikes): a helpful line."""
    text = conversation[-1]["content"]
    if "True or False" in text:
        return "True"
    for _id, question, answer, _wrong, _context in TRIVIA:
        if question in text:
            return answer
    return "Here is a helpful answer."


def backend(salt: str, comply: str = COMPLY_NUMBERS) -> ScriptedBackend:
    rules = [(comply, COMPLIANCE), (r"placeholder request", REFUSAL)]
    return ScriptedBackend(rules, responder=respond, scorer=lambda c, t: -float(len(t)), fingerprint_salt=salt)


def audit_config(root: Path, name: str) -> AuditConfig:
    trivia = root / "trivia.jsonl"
    rows = [
        {"id": i, "domain": "d", "question": q, "answer": a, "aliases": [], "wrong_answer": w, "false_context": c}
        for i, q, a, w, c in TRIVIA
    ]
    trivia.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "mc.json").write_text(json.dumps(MC))
    keyword = [JudgeSpec.model_validate("keyword-extended"), JudgeSpec.model_validate("keyword-zou-qi")]
    return AuditConfig(
        name=name,
        model=ModelSpec(backend="scripted"),
        audits=AuditsSpec(
            harmful=HarmfulAuditSpec(judges=keyword),
            overrefusal=OverrefusalAuditSpec(limit=4, judges=keyword[:1]),
            drift=DriftAuditSpec(dataset=str(trivia), conditions=["B", "FIPx1"]),
            truthfulness=TruthfulnessAuditSpec(dataset=str(trivia), multiple_choice=str(root / "mc.json")),
        ),
        cache=CacheSpec(path=str(root / "cache.sqlite")),
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two audited runs (base, tuned) of every audit, on scripted backends; the tuned one complies more."""
    root = tmp_path_factory.mktemp("export")
    base = run_audit(audit_config(root, "base"), root / "base", backend=backend("b"), behaviors=behaviors(10))
    tuned = run_audit(
        audit_config(root, "tuned"), root / "tuned", backend=backend("t", r"number [0-6]$"), behaviors=behaviors(10)
    )
    return [base.path, tuned.path]


def counts(run: Path) -> dict[str, int]:
    """Rows expected per audit: one per verdict, or one for a sample without verdicts."""
    out = {}
    for audit in ("harmful", "overrefusal", "drift", "truthfulness", "truthfulness_mc"):
        out[audit] = sum(max(1, len(r.verdicts)) for r in RunDir(run).records(audit))
    return out


# --------------------------------------------------------------------------- the table


def test_parquet_has_one_row_per_sample_and_judge_and_no_texts(runs: list[Path], tmp_path: Path) -> None:
    result = export_samples(runs, tmp_path / "samples.parquet")
    table = pd.read_parquet(result.path)
    assert set(table.columns) >= REQUIRED and len(table) == result.n_rows
    assert not {"prompt", "completion", "judge_raw"} & set(table.columns)  # texts only when asked for
    expected = counts(runs[0])
    assert expected["harmful"] == 20 and expected["overrefusal"] == 4  # 10 behaviours × 2 judges, 4 × 1
    assert table[table.model == "base"].groupby("audit").size().to_dict() == expected
    assert result.n_samples == 2 * sum(sum(1 for _ in RunDir(runs[0]).records(a)) for a in expected)

    harmful = table[(table.audit == "harmful") & (table.judge == "keyword-extended")].set_index(["model", "sample_id"])
    assert harmful.loc[("base", "b00"), "score"] == 1.0 and harmful.loc[("base", "b05"), "score"] == 0.0
    assert harmful.loc[("tuned", "b05"), "score"] == 1.0 and harmful.loc[("tuned", "b05"), "label"] == "compliance"
    assert (
        harmful.loc[("base", "b08"), "subset"] == "contextual" and harmful.loc[("base", "b00"), "category"] == "illegal"
    )
    # the same prompt hashes the same in both runs: tables of several runs join on it
    assert harmful.loc[("base", "b08"), "prompt_sha256"] == harmful.loc[("tuned", "b08"), "prompt_sha256"]
    record = next(r for r in RunDir(runs[0]).records("harmful") if r.sample_id == "b08")
    assert harmful.loc[("base", "b08"), "prompt_sha256"] == prompt_sha256(record)
    assert table[table.audit == "harmful"].judge_details.isna().all()  # keyword judges give {} details
    assert set(table.run_dir) == {str(p) for p in runs} and set(table.model_source) == {"qwen2.5-coder-0.5b-instruct"}


def test_judge_free_samples_keep_their_own_metrics(runs: list[Path], tmp_path: Path) -> None:
    table = pd.read_parquet(export_samples(runs[:1], tmp_path / "s.parquet").path)
    drift = table[table.audit == "drift"].set_index("sample_id")
    assert drift.judge.isna().all() and drift.score.isna().all()
    assert list(drift.condition.unique()) == ["B", "FIPx1"]
    for record in RunDir(runs[0]).records("drift"):
        assert drift.loc[record.sample_id, "correct"] == record.metadata["drift"]["correct"]
        assert drift.loc[record.sample_id, "question_id"] == record.metadata["question_id"]
    claims = table[table.audit == "truthfulness"].set_index("sample_id")
    for record in RunDir(runs[0]).records("truthfulness"):
        values = record.metadata["truthfulness"]
        assert claims.loc[record.sample_id, "reply"] == values["reply"]
        assert claims.loc[record.sample_id, "correct"] == values["correct"]
        assert claims.loc[record.sample_id, "margin"] == pytest.approx(values["margin"])
    mc = table[table.audit == "truthfulness_mc"].iloc[0]
    assert mc.sample_id == "m1" and isinstance(mc.mc2, float) and mc.mc1_correct in (True, False)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_csv_and_jsonl_hold_the_same_table(runs: list[Path], tmp_path: Path, fmt: str) -> None:
    parquet = pd.read_parquet(export_samples(runs, tmp_path / "s.parquet").path)
    path = export_samples(runs, tmp_path / f"s.{fmt}").path
    other = pd.read_csv(path) if fmt == "csv" else pd.read_json(path, lines=True)
    assert list(other.columns) == list(parquet.columns) and len(other) == len(parquet)
    assert other.score.fillna(-1).tolist() == parquet.score.fillna(-1).tolist()
    assert other.sample_id.tolist() == parquet.sample_id.tolist()


def test_datasets_reads_the_parquet_as_is(runs: list[Path], tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    path = export_samples(runs, tmp_path / "s.parquet").path
    direct = datasets.Dataset.from_parquet(path, cache_dir=str(tmp_path / "hf"))
    loaded = datasets.load_dataset("parquet", data_files=path, split="train", cache_dir=str(tmp_path / "hf"))
    assert len(direct) == len(loaded) == len(pd.read_parquet(path))
    assert direct.features["score"].dtype == "float64" and direct.features["correct"].dtype == "bool"
    jsonl = export_samples(runs, tmp_path / "s.jsonl").path
    assert len(datasets.load_dataset("json", data_files=jsonl, split="train", cache_dir=str(tmp_path / "hf"))) == len(
        direct
    )


# --------------------------------------------------------------------------- completions and harmful material


def test_completions_only_when_asked_and_harmful_ones_hidden(runs: list[Path], tmp_path: Path) -> None:
    result = export_samples(runs, tmp_path / "s.parquet", include_completions=True)
    table = pd.read_parquet(result.path)
    assert COMPLIANCE not in set(table.completion.dropna())  # judged attack success: hidden
    harmful = table[table.audit == "harmful"]
    complied = harmful[harmful.score == 1.0]
    assert complied.completion.isna().all() and complied.completion_hidden.all() and complied.judge_raw.isna().all()
    refused = harmful[harmful.score == 0.0]
    assert (refused.completion == REFUSAL).all() and not refused.completion_hidden.any()
    assert result.n_hidden == 4 + 7  # base complied on behaviours 0-3, tuned on 0-6
    # prompts are there, context included, as the judge saw them
    contextual = harmful[harmful.sample_id == "b08"].prompt.iloc[0]
    assert contextual == "placeholder context 8\n\n---\n\nplaceholder request number 8"
    others = table[table.audit != "harmful"]
    assert others.completion.notna().all() and not others.completion_hidden.any()

    shown = pd.read_parquet(
        export_samples(runs, tmp_path / "all.parquet", include_completions=True, show_harmful=True).path
    )
    assert (shown[(shown.audit == "harmful") & (shown.score == 1.0)].completion == COMPLIANCE).all()
    assert not shown.completion_hidden.any()


def test_show_harmful_needs_include_completions(runs: list[Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="show_harmful needs include_completions"):
        export_samples(runs, tmp_path / "s.parquet", show_harmful=True)
    assert not (tmp_path / "s.parquet").exists()


# --------------------------------------------------------------------------- writing tables safely

EMPTY_DICT_ROWS: list[dict[str, Any]] = [
    {"sample_id": "a", "score": None, "details": {}, "metadata": {}, "flag": True},
    {"sample_id": "b", "score": 1.0, "details": {}, "metadata": {}, "flag": None},
]


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_columns_of_empty_dicts_are_written_and_read_back(tmp_path: Path, suffix: str) -> None:
    # pyarrow cannot write a struct<> column (every value {}) to Parquet; write_table stores dicts as JSON text
    path = write_table(EMPTY_DICT_ROWS, tmp_path / f"t{suffix}")
    read = {".parquet": pd.read_parquet, ".csv": pd.read_csv, ".jsonl": lambda p: pd.read_json(p, lines=True)}
    table = read[suffix](path)
    assert list(table.columns) == ["sample_id", "score", "details", "metadata", "flag"]
    assert table.details.tolist() == table.metadata.tolist() == ["{}", "{}"]
    assert table.sample_id.tolist() == ["a", "b"]


def test_parquet_types_nested_values_and_missing_columns(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    rows = [{"n": 1, "x": 0.5, "nested": {"p": [1, 2]}, "blank": None}, {"n": 2, "x": 1, "extra": "e"}]
    schema = pq.read_table(write_table(rows, tmp_path / "t.parquet")).schema
    assert [str(schema.field(c).type) for c in schema.names] == ["int64", "double", "string", "string", "string"]
    assert pq.read_table(tmp_path / "t.parquet").to_pylist()[0]["nested"] == '{"p": [1, 2]}'
    with pytest.raises(TableError, match="write one of parquet, csv, jsonl"):
        write_table(rows, tmp_path / "t.xlsx")
    with pytest.raises(TableError, match="no rows to write"):
        write_table([], tmp_path / "t.csv")


def test_only_audit_runs_are_exported(runs: list[Path], tmp_path: Path) -> None:
    with pytest.raises(RunError, match="not a tunesafe run directory"):
        export_samples([tmp_path], tmp_path / "s.parquet")
    with pytest.raises(ValueError, match="unknown audit"):
        export_samples(runs, tmp_path / "s.parquet", audits=["calibration"])
    only = pd.read_parquet(export_samples(runs, tmp_path / "h.parquet", audits=["drift"]).path)
    assert set(only.audit) == {"drift"}


# --------------------------------------------------------------------------- the command


def test_cli_export(runs: list[Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tunesafe.cli import app

    out = tmp_path / "samples.csv"
    result = CliRunner().invoke(app, ["export", *map(str, runs), "-o", str(out), "--include-completions"])
    assert result.exit_code == 0, result.output
    assert str(out) in result.output and "11 harmful-audit completions hidden" in result.output
    assert COMPLIANCE not in out.read_text(encoding="utf-8")
    table = pd.read_csv(out)
    assert len(table) == sum(sum(counts(run).values()) for run in runs)

    as_jsonl = CliRunner().invoke(app, ["export", str(runs[0]), "-o", str(tmp_path / "x.txt"), "--format", "jsonl"])
    assert as_jsonl.exit_code == 0, as_jsonl.output
    assert len(pd.read_json(tmp_path / "x.txt", lines=True)) == sum(counts(runs[0]).values())

    usage = CliRunner().invoke(app, ["export", str(runs[0]), "-o", str(tmp_path / "y.csv"), "--show-harmful"])
    assert usage.exit_code == 2 and "--show-harmful needs --include-completions" in usage.output
    bad = CliRunner().invoke(app, ["export", str(runs[0]), "-o", str(tmp_path / "y.xlsx")])
    assert bad.exit_code == 2 and "write one of parquet, csv, jsonl" in bad.output
