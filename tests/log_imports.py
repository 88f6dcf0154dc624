"""What the tests of `tunesafe import` on other tools' logs (inspect_ai, lm-evaluation-harness) share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tunesafe.errors import InputError
from tunesafe.importers.logs import LogImportError
from tunesafe.importers.request import ImportRequest, import_sources
from tunesafe.results import RunDir


def run_import(source: Path, output: Path, **options: Any) -> RunDir:
    return import_sources([str(source)], output, ImportRequest(**options))


def by_id(run: RunDir) -> dict[str, Any]:
    return {r.sample_id: r for r in run.records("harmful")}


def import_fails(tmp_path: Path, source: Path, match: str, error: type[Exception] = LogImportError, **kw: Any) -> None:
    """The import is refused with one line (an ``InputError``) and leaves nothing on disk."""
    output = tmp_path / "new_parent" / "out"
    with pytest.raises(error, match=match) as caught:
        run_import(source, output, **kw)
    assert isinstance(caught.value, InputError) and "\n" not in str(caught.value)
    assert not (tmp_path / "new_parent").exists()
