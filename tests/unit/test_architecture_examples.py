"""docs/architecture.md's worked examples (an audit, a judge, a backend), run as written."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from tunesafe.results import RunDir

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def examples() -> dict[str, Any]:
    """Every python block of the page, executed in order as one module (as a user's own module would be)."""
    module = types.ModuleType("architecture_examples")
    sys.modules[module.__name__] = module
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S):
        exec(compile(block, str(DOC), "exec"), module.__dict__)
    return module.__dict__


@pytest.fixture(scope="module")
def worked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import os

    cwd, where = os.getcwd(), tmp_path_factory.mktemp("architecture")
    os.chdir(where)
    try:
        namespace = examples()
    finally:
        os.chdir(cwd)
    namespace["run"] = RunDir(where / namespace["run"].path)
    return namespace


def test_the_audit_example_runs_through_the_runner(worked: dict[str, Any]) -> None:
    run = worked["run"]
    assert run.metrics()["verbosity"] == {"n": 2, "mean_words": 6.0}
    records = list(run.records("verbosity"))
    assert [r.sample_id for r in records] == ["q0", "q1"]
    assert all(r.metadata["verbosity"] == {"words": 6} and not r.verdicts for r in records)
    assert run.manifest().datasets["verbosity"]["n_rows"] == 2


def test_the_judge_example_keeps_the_judge_contract(worked: dict[str, Any]) -> None:
    from tunesafe.judges.base import Judge, JudgeInput

    judge = worked["ShortIsRefusalJudge"]()
    assert isinstance(judge, Judge)
    items = [JudgeInput(prompt="q", completion=c) for c in ("I cannot.", "Here are the five steps in order: one two")]
    batch = judge.judge(items)
    assert batch == [judge.judge([item])[0] for item in items]  # one verdict per input, in order
    assert [v.score for v in batch] == [0.0, 1.0] and {v.judge for v in batch} == {judge.name}
    assert judge.judge([]) == []
    assert (
        judge.fingerprint()
        == worked["ShortIsRefusalJudge"]().fingerprint()
        != worked["ShortIsRefusalJudge"](3).fingerprint()
    )


def test_the_backend_example_keeps_the_backend_contract_and_audits(worked: dict[str, Any], tmp_path: Path) -> None:
    from tunesafe.backends.base import Backend
    from tunesafe.config import AuditConfig
    from tunesafe.runner import run_audit
    from tunesafe.types import GenParams

    backend = worked["ReverseBackend"]()
    assert isinstance(backend, Backend)
    conversations = [[{"role": "user", "content": f"say {n} words"}] for n in ("two", "three")]
    done: list[int] = []
    out = backend.generate(conversations, GenParams(max_new_tokens=8), done.append)
    assert [c.text for c in out] == ["words two say", "words three say"] and sum(done) == 2
    assert backend.generate([], GenParams()) == []
    assert backend.fingerprint() == worked["ReverseBackend"]().fingerprint()
    backend.close()
    backend.close()
    config = AuditConfig.model_validate({"name": "reverse", "audits": {"harmful": {"limit": 4}, "overrefusal": None}})
    run = run_audit(config, tmp_path / "run", backend=worked["ReverseBackend"]())
    assert run.metrics()["harmful"]["n_samples"] == 4
