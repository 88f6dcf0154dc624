"""Bad input across the CLI (issue 15): for each case exit code 2, one ``error:`` line that names the file
(and row, where there is one) and says what to do, no traceback, and nothing already on disk changed.

Each case builds its files in a fresh folder, runs one command in-process, and compares every file that
was there before with what is there after. A served model at a dead address stands in for a model where a
command needs one: every case must fail on its input before anything is asked of a model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunesafe.cli import app

DEAD = ["--model", "openai:served", "--base-url", "http://127.0.0.1:9/v1"]
CONVERSATION = [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "Hi!"}]


def _jsonl(rows: list[object]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def _write(root: Path, name: str, content: str | bytes) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _run_dir(root: Path, name: str = "run") -> Path:
    """A finished-looking audit run directory (a manifest is enough for the checks that meet it)."""
    path = root / name
    (path / "samples").mkdir(parents=True)
    manifest = {
        "schema_version": 1,
        "run_id": name,
        "kind": "audit",
        "name": name,
        "status": "success",
        "created": "2026-01-01T00:00:00+00:00",
        "updated": "2026-01-01T00:00:00+00:00",
        "config_hash": "0" * 64,
    }
    _write(path, "manifest.json", json.dumps(manifest))
    _write(path, "config.yaml", "name: other\n")
    _write(path, "samples/harmful.jsonl", "")
    return path


TRAIN_OK = _jsonl([{"messages": CONVERSATION}])
COMPLETIONS = "prompt,completion\nHow are you?,Fine.\nWhat is up?,Nothing.\n"


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[Path], None]
    args: Callable[[Path], list[str]]
    expect: str  # a regex the one error line must match


def _none(root: Path) -> None:
    return None


def _files(**files: str | bytes) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        for name, content in files.items():
            _write(root, name.replace("__", "/").replace("_DOT_", "."), content)

    return setup


def _with_run(**files: str | bytes) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        _files(**files)(root)
        _run_dir(root)

    return setup


CASES = [
    # ---------------------------------------------------------------- import
    Case("import: missing file", _none, lambda r: ["import", str(r / "nope.csv"), "-o", str(r / "out")], r"nope\.csv"),
    Case(
        "import: missing column",
        _files(c_DOT_csv="prompt,answer\na,b\n"),
        lambda r: ["import", str(r / "c.csv"), "-o", str(r / "out")],
        r"c\.csv.*missing column.*completion.*available: prompt, answer",
    ),
    Case(
        "import: malformed JSONL line",
        _files(c_DOT_jsonl='{"prompt": "a", "completion": "b"}\n{"prompt": \n{"prompt": "c", "completion": "d"}\n'),
        lambda r: ["import", str(r / "c.jsonl"), "-o", str(r / "out")],
        r"c\.jsonl:2",
    ),
    Case(
        "import: not UTF-8",
        _files(c_DOT_csv="prompt,completion\ncaf\xe9,b\n".encode("latin-1")),
        lambda r: ["import", str(r / "c.csv"), "-o", str(r / "out")],
        r"c\.csv.*UTF-8",
    ),
    Case(
        "import: text named .parquet",
        _files(fake_DOT_parquet="prompt,completion\na,b\n"),
        lambda r: ["import", str(r / "fake.parquet"), "-o", str(r / "out")],
        r"fake\.parquet: not a readable Parquet file",
    ),
    Case(
        "import: empty completion cell",
        _files(c_DOT_csv="prompt,completion\na,b\nc,\n"),
        lambda r: ["import", str(r / "c.csv"), "-o", str(r / "out")],
        r"c\.csv: row 2 has an empty .completion. cell",
    ),
    Case(
        "import: output is a file",
        _files(c_DOT_csv=COMPLETIONS, out="x"),
        lambda r: ["import", str(r / "c.csv"), "-o", str(r / "out")],
        r"out is a file",
    ),
    Case(
        "import: output under a file",
        _files(c_DOT_csv=COMPLETIONS, out="x"),
        lambda r: ["import", str(r / "c.csv"), "-o", str(r / "out" / "run")],
        r"out/run is under .*out, which is a file",
    ),
    Case(
        "import: output holds a run",
        _with_run(c_DOT_csv=COMPLETIONS),
        lambda r: ["import", str(r / "c.csv"), "-o", str(r / "run")],
        r"run already exists and is not an empty directory",
    ),
    Case(
        "import: unknown audit",
        _files(c_DOT_csv=COMPLETIONS),
        lambda r: ["import", str(r / "c.csv"), "-o", str(r / "out"), "--audit", "bogus"],
        r"bogus",
    ),
    Case(
        "import: repeated id",
        _files(c_DOT_csv="id,prompt,completion\n1,a,b\n1,c,d\n"),
        lambda r: ["import", str(r / "c.csv"), "-o", str(r / "out"), "--id-col", "id"],
        r"c\.csv.*'?1'?",
    ),
    # ---------------------------------------------------------------- screen
    Case("screen: missing file", _none, lambda r: ["screen", str(r / "nope.jsonl"), "-o", str(r / "out")], r"nope"),
    Case(
        "screen: malformed line",
        _files(t_DOT_jsonl=TRAIN_OK + "{oops\n"),
        lambda r: ["screen", str(r / "t.jsonl"), "-o", str(r / "out")],
        r"t\.jsonl:2: not valid JSON",
    ),
    Case(
        "screen: not UTF-8",
        _files(t_DOT_jsonl=TRAIN_OK.encode() + '{"messages": "caf\xe9"}\n'.encode("latin-1")),
        lambda r: ["screen", str(r / "t.jsonl"), "-o", str(r / "out")],
        r"t\.jsonl:2: not UTF-8 text",
    ),
    Case(
        "screen: text named .parquet",
        _files(fake_DOT_parquet=TRAIN_OK),
        lambda r: ["screen", str(r / "fake.parquet"), "-o", str(r / "out")],
        r"fake\.parquet: not a readable Parquet file",
    ),
    Case(
        "screen: CSV without messages",
        _files(t_DOT_csv="prompt,completion\na,b\n"),
        lambda r: ["screen", str(r / "t.csv"), "-o", str(r / "out")],
        r"t\.csv: missing column\(s\) messages",
    ),
    Case(
        "screen: last turn not assistant",
        _files(t_DOT_jsonl=TRAIN_OK + _jsonl([{"messages": CONVERSATION[:1]}])),
        lambda r: ["screen", str(r / "t.jsonl"), "-o", str(r / "out")],
        r"t\.jsonl:2: the last message must have role 'assistant'",
    ),
    Case(
        "screen: output is a file",
        _files(t_DOT_jsonl=TRAIN_OK, out="x"),
        lambda r: ["screen", str(r / "t.jsonl"), "-o", str(r / "out")],
        r"out is a file",
    ),
    Case(
        "screen: output is a run directory",
        _with_run(t_DOT_jsonl=TRAIN_OK),
        lambda r: ["screen", str(r / "t.jsonl"), "-o", str(r / "run")],
        r"run is a tunesafe run directory; screen into a folder of its own",
    ),
    # ---------------------------------------------------------------- finetune
    Case(
        "finetune: missing data",
        _none,
        lambda r: ["finetune", "--data", str(r / "nope.jsonl"), "-o", str(r / "ft")],
        r"nope\.jsonl",
    ),
    Case(
        "finetune: malformed data line",
        _files(t_DOT_jsonl=TRAIN_OK + TRAIN_OK + "[1, 2\n"),
        lambda r: ["finetune", "--data", str(r / "t.jsonl"), "-o", str(r / "ft")],
        r"t\.jsonl:3",
    ),
    Case(
        "finetune: data not UTF-8",
        _files(t_DOT_jsonl='{"messages": "caf\xe9"}\n'.encode("latin-1")),
        lambda r: ["finetune", "--data", str(r / "t.jsonl"), "-o", str(r / "ft")],
        r"t\.jsonl:1: not UTF-8 text",
    ),
    Case(
        "finetune: text named .parquet",
        _files(fake_DOT_parquet=TRAIN_OK),
        lambda r: ["finetune", "--data", str(r / "fake.parquet"), "-o", str(r / "ft")],
        r"fake\.parquet: not a readable Parquet file",
    ),
    Case(
        "finetune: unknown recipe",
        _none,
        lambda r: ["finetune", "--recipe", "bogus", "-o", str(r / "ft")],
        r"bogus",
    ),
    Case(
        "finetune: unknown preset",
        _none,
        lambda r: ["finetune", "--recipe", "benign", "--preset", "bogus", "-o", str(r / "ft")],
        r"bogus",
    ),
    Case(
        "finetune: output is a file",
        _files(t_DOT_jsonl=TRAIN_OK, ft="x"),
        lambda r: ["finetune", "--data", str(r / "t.jsonl"), "-o", str(r / "ft")],
        r"ft is a file",
    ),
    Case(
        "finetune: unknown --set key",
        _files(t_DOT_jsonl=TRAIN_OK),
        lambda r: ["finetune", "--data", str(r / "t.jsonl"), "--set", "bogus_key=1", "-o", str(r / "ft")],
        r"bogus_key",
    ),
    Case(
        "finetune: --set value of the wrong type",
        _files(t_DOT_jsonl=TRAIN_OK),
        lambda r: ["finetune", "--data", str(r / "t.jsonl"), "--set", "learning_rate=fast", "-o", str(r / "ft")],
        r"learning_rate",
    ),
    Case(
        "finetune: config not UTF-8",
        _files(ft_DOT_yaml="name: caf\xe9\n".encode("latin-1")),
        lambda r: ["finetune", str(r / "ft.yaml"), "-o", str(r / "ft")],
        r"ft\.yaml: not UTF-8 text",
    ),
    Case(
        "finetune: config not YAML",
        _files(ft_DOT_yaml="name: [unclosed\n"),
        lambda r: ["finetune", str(r / "ft.yaml"), "-o", str(r / "ft")],
        r"ft\.yaml:2:1: not valid YAML \(while parsing a flow sequence; expected",
    ),
    Case(
        "finetune: model folder missing",
        _files(t_DOT_jsonl=TRAIN_OK),
        lambda r: ["finetune", "--data", str(r / "t.jsonl"), "--model", str(r / "no-model"), "-o", str(r / "ft")],
        r"no-model",
    ),
    # ---------------------------------------------------------------- audit
    Case(
        "audit: dataset missing",
        _none,
        lambda r: ["audit", *DEAD, "--dataset", str(r / "nope.csv"), "-o", str(r / "a")],
        r"nope\.csv",
    ),
    Case(
        "audit: dataset lacks the prompt column",
        _files(p_DOT_csv="question\nhello\n"),
        lambda r: ["audit", *DEAD, "--dataset", str(r / "p.csv"), "-o", str(r / "a")],
        r"p\.csv.*prompt",
    ),
    Case(
        "audit: dataset malformed line",
        _files(p_DOT_jsonl='{"prompt": "a"}\n{"prompt": \n{"prompt": "b"}\n'),
        lambda r: ["audit", *DEAD, "--dataset", str(r / "p.jsonl"), "-o", str(r / "a")],
        r"p\.jsonl:2",
    ),
    Case(
        "audit: output is a file",
        _files(a="x"),
        lambda r: ["audit", *DEAD, "-o", str(r / "a")],
        r"a is a file",
    ),
    Case(
        "audit: output under a file",
        _files(a="x"),
        lambda r: ["audit", *DEAD, "-o", str(r / "a" / "run")],
        r"which is a file",
    ),
    Case(
        "audit: output holds a screen's output",
        _files(a__clean_DOT_jsonl=TRAIN_OK, a__flagged_DOT_jsonl="", a__summary_DOT_json="{}"),
        lambda r: ["audit", *DEAD, "-o", str(r / "a")],
        r"a holds other files \(clean\.jsonl, flagged\.jsonl, summary\.json\) and is not a tunesafe run directory",
    ),
    Case(
        "audit: output holds another config's run",
        _with_run(),
        lambda r: ["audit", *DEAD, "-o", str(r / "run")],
        r"holds a run of a different config",
    ),
    Case(
        "audit: model folder missing",
        _none,
        lambda r: ["audit", "--model", str(r / "no-model"), "-o", str(r / "a")],
        r"no-model",
    ),
    Case(
        "audit: unknown judge",
        _none,
        lambda r: ["audit", *DEAD, "--judge", "bogus-judge", "-o", str(r / "a")],
        r"bogus-judge",
    ),
    Case(
        "audit: --set cache.mode to a bad word",
        _none,
        lambda r: ["audit", *DEAD, "--set", "cache.mode=sometimes", "-o", str(r / "a")],
        r"cache\.mode",
    ),
    Case(
        "audit: config with an unknown key",
        _files(a_DOT_yaml="modle: x\n"),
        lambda r: ["audit", str(r / "a.yaml"), *DEAD, "-o", str(r / "a")],
        r"a\.yaml.*modle: unknown key",
    ),
    Case(
        "audit: cache path is a folder",
        _files(cache__keep="x"),
        lambda r: ["audit", *DEAD, "--set", f"cache.path={r / 'cache'}", "-o", str(r / "a")],
        r"cache path .*cache is a folder; set cache\.path to a file, or use --no-cache",
    ),
    # ---------------------------------------------------------------- run
    Case("run: experiment file missing", _none, lambda r: ["run", str(r / "nope.yaml")], r"nope\.yaml"),
    Case(
        "run: experiment not YAML",
        _files(e_DOT_yaml="name: [x\n"),
        lambda r: ["run", str(r / "e.yaml"), "-o", str(r / "exp")],
        r"e\.yaml:2:1: not valid YAML",
    ),
    Case(
        "run: experiment with an unknown key",
        _files(e_DOT_yaml="name: e\nbogus: 1\n"),
        lambda r: ["run", str(r / "e.yaml"), "-o", str(r / "exp")],
        r"e\.yaml.*bogus",
    ),
    # ---------------------------------------------------------------- gate
    Case("gate: report missing", _none, lambda r: ["gate", str(r / "nope"), "--max-asr-increase", "5"], r"nope"),
    Case(
        "gate: report.json not JSON",
        _files(rep__report_DOT_json="{not json"),
        lambda r: ["gate", str(r / "rep"), "--max-asr-increase", "5"],
        r"report\.json",
    ),
    Case(
        "gate: report.json of another shape",
        _files(rep__report_DOT_json='{"runs": 3}'),
        lambda r: ["gate", str(r / "rep"), "--max-asr-increase", "5"],
        r"report\.json",
    ),
    Case(
        "gate: bad per-condition threshold",
        _files(rep__report_DOT_json="{}"),
        lambda r: ["gate", str(r / "rep"), "--max-drift-condition", "FIP"],
        r"FIP",
    ),
]


def _is_log_line(line: str) -> bool:
    """A progress log line (a bundled file extracted on first use), or its wrapped continuation."""
    return bool(re.match(r"\[\d\d/\d\d/\d\d \d\d:\d\d:\d\d\]|\s+(INFO|WARNING)?\s", line))


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_matrix_is_wide() -> None:
    assert len(CASES) >= 40
    commands = {case.name.split(":")[0] for case in CASES}
    assert commands == {"import", "screen", "finetune", "audit", "run", "gate"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNESAFE_CACHE_DIR", str(tmp_path / "user-cache"))
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "case"
    root.mkdir()
    case.setup(root)
    before = _snapshot(root)
    result = CliRunner().invoke(app, case.args(root))
    output = result.stderr + result.stdout
    assert result.exit_code == 2, f"exit {result.exit_code}: {output}\n{result.exception!r}"
    assert "Traceback" not in output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    others = [line for line in result.stderr.splitlines() if line.strip() and not _is_log_line(line)]
    assert others == errors, f"more than the one error line: {result.stderr}"
    assert re.search(case.expect, errors[0]), errors[0]
    after = _snapshot(root)
    assert {k: v for k, v in after.items() if k in before} == before, "a file that was there changed"
    assert not [k for k in after if k not in before and not k.endswith(".lock")], sorted(set(after) - set(before))
