import json
from pathlib import Path

import pytest
from tests.fakes import CrashingBackend, rule_backend

from tunesafe._util.hashing import fingerprint_dir
from tunesafe._util.io import append_jsonl, read_jsonl
from tunesafe.cache import CachedBackend, GenerationCache, generation_key
from tunesafe.results import SCHEMA_VERSION, RunDir, RunError
from tunesafe.types import GenParams

MSG = [{"role": "user", "content": "placeholder request number 3"}]


def test_cache_key_changes_with_every_component() -> None:
    base = generation_key("fp-a", MSG, GenParams())
    assert base == generation_key("fp-a", [dict(m) for m in MSG], GenParams())
    assert base != generation_key("fp-b", MSG, GenParams())
    assert base != generation_key("fp-a", [{"role": "user", "content": "other"}], GenParams())
    assert base != generation_key("fp-a", MSG, GenParams(max_new_tokens=65))
    assert base != generation_key("fp-a", MSG, GenParams(temperature=0.7, seed=1))


def test_cache_key_follows_weights_not_path(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"weights-1")
    first = generation_key(fingerprint_dir(model), MSG, GenParams())
    (model / "model.safetensors").write_bytes(b"weights-2")  # re-trained at the same path
    assert generation_key(fingerprint_dir(model), MSG, GenParams()) != first
    copy = tmp_path / "elsewhere"
    copy.mkdir()
    (copy / "config.json").write_text("{}")
    (copy / "model.safetensors").write_bytes(b"weights-1")
    assert generation_key(fingerprint_dir(copy), MSG, GenParams()) == first


def test_cached_backend_generates_only_misses(tmp_path: Path) -> None:
    cache = GenerationCache(tmp_path / "gen.sqlite")
    inner = rule_backend({1})
    backend = CachedBackend(inner, cache, flush_every=2)
    convs = [[{"role": "user", "content": f"placeholder request number {i}"}] for i in range(5)]
    first = backend.generate(convs, GenParams())
    assert len(inner.calls) == 5 and backend.misses == 5
    second = backend.generate(convs[::-1], GenParams())
    assert len(inner.calls) == 5 and backend.hits == 5
    assert [c.text for c in second] == [c.text for c in first][::-1]
    assert len(cache) == 5
    cache.close()
    reopened = CachedBackend(rule_backend({1}), GenerationCache(tmp_path / "gen.sqlite"))
    reopened.generate(convs[:2], GenParams())
    assert reopened.hits == 2 and reopened.misses == 0


def test_cache_read_only_and_off(tmp_path: Path) -> None:
    convs = [[{"role": "user", "content": "placeholder request number 1"}]]
    ro = CachedBackend(rule_backend(set()), GenerationCache(tmp_path / "a.sqlite"), mode="read_only")
    ro.generate(convs, GenParams())
    assert ro.cache is not None and len(ro.cache) == 0
    off = CachedBackend(rule_backend(set()), GenerationCache(tmp_path / "b.sqlite"), mode="off")
    off.generate(convs, GenParams())
    off.generate(convs, GenParams())
    assert off.misses == 2 and off.cache is None


def test_crash_between_batches_keeps_finished_batches(tmp_path: Path) -> None:
    cache = GenerationCache(tmp_path / "gen.sqlite")
    convs = [[{"role": "user", "content": f"placeholder request number {i}"}] for i in range(6)]
    crashing = CachedBackend(CrashingBackend(rule_backend(set()), after_calls=2), cache, flush_every=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashing.generate(convs, GenParams())
    assert len(cache) == 4
    retry = CachedBackend(rule_backend(set()), cache, flush_every=2)
    retry.generate(convs, GenParams())
    assert retry.hits == 4 and retry.misses == 2


def test_jsonl_torn_tail_is_dropped_and_appends_stay_valid(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    append_jsonl(path, [{"a": 1}, {"a": 2}])
    with path.open("a") as handle:
        handle.write('{"a": 3, "trunc')  # a process killed mid-write
    assert [r["a"] for r in read_jsonl(path)] == [1, 2]
    append_jsonl(path, [{"a": 4}])
    assert [r["a"] for r in read_jsonl(path)] == [1, 2, 4]


def test_jsonl_corrupt_middle_line_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text('{"a": 1}\nnot json\n{"a": 2}\n')
    with pytest.raises(ValueError, match=r"s\.jsonl:2: not valid JSON"):
        list(read_jsonl(path))


def test_run_dir_resume_rules(tmp_path: Path) -> None:
    path = tmp_path / "run"
    run = RunDir.create_or_resume(path, kind="audit", name="x", config_yaml="a: 1\n", config_hash="h1", seed=0)
    manifest = run.manifest()
    assert manifest.schema_version == SCHEMA_VERSION and manifest.status == "running"
    assert (path / "config.yaml").read_text() == "a: 1\n" and "python" in manifest.versions
    run.update_manifest(status="error", fingerprints={"model": "m"}, timings={"generate": 1.5})
    again = RunDir.create_or_resume(path, kind="audit", name="x", config_yaml="a: 1\n", config_hash="h1", seed=0)
    assert again.manifest().status == "running" and again.manifest().fingerprints == {"model": "m"}
    with pytest.raises(RunError, match="different config"):
        RunDir.create_or_resume(path, kind="audit", name="x", config_yaml="a: 2\n", config_hash="h2", seed=0)


def test_unknown_schema_and_missing_manifest_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="not a tunesafe run directory"):
        RunDir(tmp_path).manifest()
    path = tmp_path / "run"
    run = RunDir.create_or_resume(path, kind="audit", name="x", config_yaml="", config_hash="h", seed=None)
    data = json.loads(run.manifest_path.read_text())
    data["schema_version"] = 99
    run.manifest_path.write_text(json.dumps(data))
    with pytest.raises(RunError, match="schema_version 99"):
        run.manifest()


def test_adapter_fingerprint_ignores_where_the_base_model_was(tmp_path: Path) -> None:
    def adapter(folder: str, base_path: str, weights: bytes) -> Path:
        path = tmp_path / folder
        path.mkdir()
        (path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base_path, "r": 16}))
        (path / "adapter_model.safetensors").write_bytes(weights)
        return path

    here = adapter("a", "/home/me/.cache/tunesafe/models/x", b"lora")
    there = adapter("b", "/srv/other/place/x", b"lora")
    changed = adapter("c", "/srv/other/place/x", b"lora-2")
    assert fingerprint_dir(here) == fingerprint_dir(there) != fingerprint_dir(changed)


def test_an_adapter_fingerprint_ignores_the_order_peft_writes_its_module_sets(tmp_path: Path) -> None:
    """PEFT writes target_modules (a set) in a PYTHONHASHSEED-dependent order: the same weights trained twice
    must get one fingerprint, or the generation cache misses and resumed audits are refused."""
    import json

    from tunesafe._util.hashing import fingerprint_dir

    fingerprints = []
    for name, modules in (("a", ["k_proj", "q_proj", "v_proj"]), ("b", ["v_proj", "q_proj", "k_proj"])):
        adapter = tmp_path / name
        adapter.mkdir()
        (adapter / "adapter_model.safetensors").write_bytes(b"same weights")
        config = {"r": 16, "target_modules": modules, "base_model_name_or_path": f"/somewhere/{name}"}
        (adapter / "adapter_config.json").write_text(json.dumps(config))
        fingerprints.append(fingerprint_dir(adapter))
    assert fingerprints[0] == fingerprints[1]
    (tmp_path / "b" / "adapter_config.json").write_text(json.dumps({"r": 8, "target_modules": ["q_proj"]}))
    assert fingerprint_dir(tmp_path / "b") != fingerprints[0]


def test_a_run_recorded_under_the_earlier_adapter_fingerprint_resumes(tmp_path: Path) -> None:
    """Before module sets were sorted, an adapter's fingerprint hashed them in written order: its runs resume
    (the backend names that fingerprint among ``earlier_fingerprints``); another model's are still refused."""
    from tunesafe.config import AuditConfig, load_config
    from tunesafe.runner import run_audit

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 4, "target_modules": ["v_proj", "q_proj"]}))
    earlier = fingerprint_dir(adapter, sort_module_sets=False)
    assert earlier != fingerprint_dir(adapter)

    class Renamed:  # the same scripted model under a new fingerprint that remembers the earlier one
        def __init__(self, fingerprint: str, earlier: list[str]) -> None:
            self.inner, self._fingerprint, self._earlier = rule_backend({1}), fingerprint, earlier
            self.name = self.inner.name

        def fingerprint(self) -> str:
            return self._fingerprint

        def earlier_fingerprints(self) -> list[str]:
            return self._earlier

        def generate(self, conversations, params, progress=None):  # type: ignore[no-untyped-def]
            return self.inner.generate(conversations, params, progress)

        def close(self) -> None:
            pass

    data = tmp_path / "p.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"request {i}"}) + "\n" for i in range(4)))
    config = load_config(
        AuditConfig,
        None,
        [f"audits.harmful.dataset={data}", "audits.harmful.judges=[keyword-extended]", "audits.overrefusal=null"],
    )
    config = config.model_copy(update={"cache": config.cache.model_copy(update={"mode": "off"})})
    out = tmp_path / "run"
    run_audit(config, out, backend=Renamed(earlier, []))
    before = (out / "samples" / "harmful.jsonl").read_bytes()
    run_audit(config, out, backend=Renamed(fingerprint_dir(adapter), [earlier]))
    assert RunDir(out).manifest().fingerprints["model"] == earlier
    assert (out / "samples" / "harmful.jsonl").read_bytes() == before
    with pytest.raises(RunError, match="different content"):
        run_audit(config, out, backend=Renamed("another model", []))
