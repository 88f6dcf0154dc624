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
