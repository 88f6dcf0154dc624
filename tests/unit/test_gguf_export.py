"""GGUF export plumbing: llama.cpp's converters taken from the sdist, files keyed by content, clear errors."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from tunesafe.backends import gguf_export
from tunesafe.backends.base import BackendError


def _sdist(path: Path, members: dict[str, bytes]) -> Path:
    """A .tar.gz laid out as llama-cpp-python's sdist (``<name>-<version>/vendor/llama.cpp/...``)."""
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(f"llama_cpp_python-0.3.36/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_only_the_converters_and_gguf_py_are_extracted(tmp_path: Path) -> None:
    sdist = _sdist(
        tmp_path / "llama_cpp_python-0.3.36.tar.gz",
        {
            "vendor/llama.cpp/convert_lora_to_gguf.py": b"# lora",
            "vendor/llama.cpp/convert_hf_to_gguf.py": b"# hf",
            "vendor/llama.cpp/conversion/__init__.py": b"",
            "vendor/llama.cpp/gguf-py/gguf/__init__.py": b"",
            "vendor/llama.cpp/src/llama.cpp": b"int main() {}",
            "llama_cpp/llama.py": b"# python package",
        },
    )
    out = tmp_path / "out"
    gguf_export._extract_converters(sdist, out)
    found = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert found == [
        "conversion/__init__.py",
        "convert_hf_to_gguf.py",
        "convert_lora_to_gguf.py",
        "gguf-py/gguf/__init__.py",
    ]


def test_an_sdist_without_the_lora_converter_is_refused(tmp_path: Path) -> None:
    sdist = _sdist(tmp_path / "x.tar.gz", {"vendor/llama.cpp/convert_hf_to_gguf.py": b"# hf"})
    with pytest.raises(BackendError, match="convert_lora_to_gguf.py"):
        gguf_export._extract_converters(sdist, tmp_path / "out")


def test_sdist_found_in_a_wheelhouse_before_any_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    house = tmp_path / "house"
    house.mkdir()
    sdist = _sdist(house / "llama_cpp_python-9.9.9.tar.gz", {"vendor/llama.cpp/convert_lora_to_gguf.py": b""})
    monkeypatch.setenv("TUNESAFE_WHEELHOUSE", str(house))
    monkeypatch.setenv("TUNESAFE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(gguf_export, "pip_download", lambda *a, **k: pytest.fail("downloaded"))
    assert gguf_export._sdist("9.9.9") == sdist


def test_an_unpinned_version_without_a_local_sdist_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TUNESAFE_WHEELHOUSE", raising=False)
    monkeypatch.setenv("TUNESAFE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(BackendError, match="no pinned sha256.*TUNESAFE_WHEELHOUSE"):
        gguf_export._sdist("0.0.1")


def test_adapter_must_be_a_gguf_or_a_peft_folder(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="neither a GGUF LoRA file nor a PEFT adapter folder"):
        gguf_export.resolve_gguf_adapter(str(tmp_path), "smollm2-135m-instruct")
    lora = tmp_path / "adapter.gguf"
    lora.write_bytes(b"GGUF")
    assert gguf_export.resolve_gguf_adapter(str(lora), "smollm2-135m-instruct") == (lora, None)


def test_a_failed_conversion_leaves_no_file_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    converters = tmp_path / "conv"
    converters.mkdir()
    (converters / "convert_lora_to_gguf.py").write_text("import sys\nsys.exit('the base config is missing')\n")
    monkeypatch.setattr(gguf_export, "converter_dir", lambda: converters)
    target = tmp_path / "out" / "x.gguf"
    with pytest.raises(BackendError, match="the base config is missing"):
        gguf_export._convert(target, lambda out: ["convert_lora_to_gguf.py", str(out)], "LoRA adapter x")
    assert not target.exists() and list(target.parent.iterdir()) == [target.with_suffix(".lock")]


def test_a_converted_file_is_reused_without_running_the_converter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "x.gguf"
    target.write_bytes(b"GGUF done")
    monkeypatch.setattr(gguf_export, "converter_dir", lambda: pytest.fail("converter needed"))
    assert gguf_export._convert(target, lambda out: ["never"], "x") == target
