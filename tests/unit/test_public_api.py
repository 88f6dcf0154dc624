"""The public Python API: ``tunesafe.__all__`` resolves lazily, and the README's example uses only it."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
from tests.fakes import readme_example

import tunesafe


@pytest.mark.parametrize("name", [n for n in tunesafe.__all__ if n != "__version__"])
def test_every_public_name_resolves(name: str) -> None:
    value = getattr(tunesafe, name)
    assert callable(value), name
    assert name in dir(tunesafe)


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'audit_model'"):
        _ = tunesafe.audit_model  # type: ignore[attr-defined]


def test_import_stays_light() -> None:
    code = "import sys, tunesafe; print(sorted(m for m in ('torch', 'transformers', 'pydantic') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_readme_example_uses_only_the_public_api() -> None:
    tree = ast.parse(readme_example())
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "tunesafe"
    }
    assert {"run_audit", "finetune_run", "write_report", "evaluate_gate", "load_config"} <= used
    assert used <= set(tunesafe.__all__), used - set(tunesafe.__all__)
