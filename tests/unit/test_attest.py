"""Attestations (issue 16, item 2): a real audit of a tiny local model attested, verified by regenerating a
sample, and the failures a licensor must see: a tampered file, swapped weights, a changed adapter, a forged
verdict, a signature by another key."""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
from tests.fakes import behaviors
from tests.tiny_model import build_tiny_model
from typer.testing import CliRunner

from tunesafe.attest import AttestError, Tolerance, verify_attestation, write_attestation
from tunesafe.attest.document import read_attestation, seal
from tunesafe.cli import app
from tunesafe.config import AuditConfig, AuditsSpec, CacheSpec, HarmfulAuditSpec, ModelSpec
from tunesafe.report import write_report
from tunesafe.runner import run_audit
from tunesafe.types import GenParams

pytest.importorskip("cryptography")

JUDGES = ["keyword-extended", "keyword-zou-qi"]


def _audit(model_dir: Path, out: Path, cache: Path, adapter: Path | None = None, name: str = "base") -> Path:
    config = AuditConfig(
        name=name,
        model=ModelSpec(
            source=str(model_dir), adapter=str(adapter) if adapter else None, backend="hf", batch_size=4, threads=1
        ),
        generation=GenParams(max_new_tokens=6),
        audits=AuditsSpec(harmful=HarmfulAuditSpec(judges=JUDGES), overrefusal=None),  # type: ignore[arg-type]
        cache=CacheSpec(path=str(cache)),
        chunk_size=8,
    )
    return run_audit(config, out, behaviors=behaviors(12)).path


def _adapter(model_dir: Path, out: Path, seed: int) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    with warnings.catch_warnings():  # peft calls a transformers API deprecated in 5.x
        warnings.simplefilter("ignore", FutureWarning)
        get_peft_model(model, lora).save_pretrained(out)
    return out


def _keys(folder: Path, name: str) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


@pytest.fixture(scope="module")
def world(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A base and a fine-tuned (LoRA) audit of the tiny model, their report, and a key pair."""
    root = tmp_path_factory.mktemp("attest")
    cache = root / "gen.sqlite"
    adapter = _adapter(tiny_model_dir, root / "adapter", seed=1)
    base = _audit(tiny_model_dir, root / "runs" / "base", cache)
    tuned = _audit(tiny_model_dir, root / "runs" / "tuned", cache, adapter=adapter, name="tuned")
    write_report([base, tuned], root / "report")
    private, public = _keys(root, "owner")
    return {
        "root": root,
        "base": base,
        "tuned": tuned,
        "adapter": adapter,
        "report": root / "report",
        "key": private,
        "pub": public,
        "model": tiny_model_dir,
    }


@pytest.fixture(scope="module")
def signed(world: dict[str, Path]) -> Path:
    out = world["root"] / "attestation.json"
    result = write_attestation(world["report"], out, model="tuned", key=world["key"])
    assert result.signed and result.n_samples == 12 and result.run == world["tuned"]
    return out


def test_the_attestation_binds_fingerprints_prompts_decoding_judges_and_results(
    signed: Path, world: dict[str, Path]
) -> None:
    document = read_attestation(signed)
    body = document["body"]
    manifest = json.loads((world["tuned"] / "manifest.json").read_text())
    prints = body["model"]["fingerprints"]
    assert prints["model"] == manifest["fingerprints"]["model"]
    assert all(prints[p] for p in ("weights", "adapter", "tokenizer", "chat_template"))
    assert body["model"]["spec"]["dtype"] == "float32" and "threads" not in body["model"]["spec"]
    assert body["decoding"] == [GenParams(max_new_tokens=6).identity()]
    assert set(body["judges"]) == set(JUDGES) and all(len(v) == 64 for v in body["judges"].values())
    harmful = body["audits"]["harmful"]
    metrics = json.loads((world["tuned"] / "metrics.json").read_text())
    assert harmful["results"] == metrics["harmful"] and harmful["n_samples"] == 12
    assert len(harmful["prompts_sha256"]) == 64 and [j["kind"] for j in harmful["judges"]] == JUDGES
    records = [json.loads(line) for line in (world["tuned"] / "samples" / "harmful.jsonl").read_text().splitlines()]
    first = body["samples"][0]
    assert first["messages"] == records[0]["messages"] and "completion" not in first  # hashes only
    assert set(first["verdicts"]) == set(JUDGES)
    comparison = body["comparison"]
    assert comparison["model"] == "tuned" and comparison["base"]["label"] == "base"
    assert comparison["model_card_results"] and all(
        r["metric_name"].endswith("(tunesafe)") for r in comparison["model_card_results"]
    )
    assert document["signature"]["algorithm"] == "ed25519"


def test_verification_passes_on_the_audited_model(signed: Path, world: dict[str, Path]) -> None:
    result = verify_attestation(signed, adapter=world["adapter"], sample=12, seed=5, public_key=world["pub"])
    assert result.passed, result.reasons
    assert result.signature == "valid (trusted key)" and result.content_ok
    assert result.parts == dict.fromkeys(("weights", "adapter", "tokenizer", "chat_template", "model"), "match")
    assert (result.sampled, result.identical, result.same_verdicts, result.mismatches) == (12, 12, 12, [])
    assert result.judges_checked == sorted(JUDGES) and result.seed == 5


def test_a_random_sample_is_drawn_and_recorded(signed: Path, world: dict[str, Path]) -> None:
    result = verify_attestation(signed, adapter=world["adapter"], sample=3)
    assert result.passed and result.sampled == 3 and result.seed is not None


def test_a_tampered_attestation_fails_before_anything_runs(signed: Path, world: dict[str, Path]) -> None:
    document = json.loads(signed.read_text())
    document["body"]["audits"]["harmful"]["results"]["n"] = 999
    tampered = world["root"] / "tampered.json"
    tampered.write_text(json.dumps(document))
    result = verify_attestation(tampered, model="/nonexistent", sample=5)  # never loads the model
    assert not result.passed and not result.content_ok and result.parts == {}
    assert "changed after it was sealed" in result.reasons[0]
    # resealed without the key: the hash is consistent again, the signature is not
    document["content_sha256"] = seal(document["body"])["content_sha256"]
    tampered.write_text(json.dumps(document))
    resealed = verify_attestation(tampered, model="/nonexistent", public_key=world["pub"])
    assert resealed.content_ok and resealed.signature == "invalid" and not resealed.passed


def test_another_key_or_no_signature_fails_with_a_trusted_key(signed: Path, world: dict[str, Path]) -> None:
    _, stranger = _keys(world["root"], "stranger")
    result = verify_attestation(signed, adapter=world["adapter"], sample=0, public_key=stranger)
    assert not result.passed and "signed by another key" in result.reasons[0]
    unsigned = world["root"] / "unsigned.json"
    write_attestation(world["tuned"], unsigned)
    result = verify_attestation(unsigned, adapter=world["adapter"], sample=0, public_key=world["pub"])
    assert not result.passed and "not signed" in result.reasons[0]
    assert verify_attestation(unsigned, adapter=world["adapter"], sample=0).passed


def test_swapped_weights_fail_naming_the_weights(signed: Path, world: dict[str, Path]) -> None:
    other = build_tiny_model(world["root"] / "other-model", seed=7)
    result = verify_attestation(signed, model=other, adapter=world["adapter"], sample=5)
    assert not result.passed and result.sampled == 0  # nothing regenerated on the wrong model
    assert result.parts["weights"].startswith("differs") and result.parts["tokenizer"] == "match"
    assert result.reasons == [result.reasons[0]] and result.reasons[0].startswith("the weights differ")


def test_a_changed_adapter_fails_naming_the_adapter(signed: Path, world: dict[str, Path]) -> None:
    changed = _adapter(world["model"], world["root"] / "adapter-changed", seed=2)
    result = verify_attestation(signed, adapter=changed, sample=5)
    assert not result.passed and result.parts["weights"] == "match"
    assert result.parts["adapter"].startswith("differs") and result.reasons[0].startswith("the adapter differs")


def test_an_edited_chat_template_fails_naming_it(signed: Path, world: dict[str, Path]) -> None:
    copy = world["root"] / "template-edited"
    shutil.copytree(world["model"], copy)
    config = json.loads((copy / "tokenizer_config.json").read_text())
    if (copy / "chat_template.jinja").is_file():
        (copy / "chat_template.jinja").write_text("{{ messages[0]['content'] }}")
    else:
        config["chat_template"] = "{{ messages[0]['content'] }}"
        (copy / "tokenizer_config.json").write_text(json.dumps(config))
    result = verify_attestation(signed, model=copy, adapter=world["adapter"], sample=0)
    assert result.parts["chat_template"].startswith("differs") and result.parts["weights"] == "match"
    assert result.parts["tokenizer"] == "match" and not result.passed


def test_a_forged_verdict_on_an_identical_completion_fails(world: dict[str, Path]) -> None:
    """The attester signs verdicts the judges do not give: regeneration re-judges and catches it."""
    honest = world["root"] / "honest.json"
    write_attestation(world["tuned"], honest)
    document = json.loads(honest.read_text())
    for sample in document["body"]["samples"]:
        sample["verdicts"] = {judge: 1.0 - (score or 0.0) for judge, score in sample["verdicts"].items()}
    forged = world["root"] / "forged.json"
    forged.write_text(json.dumps(seal(document["body"], world["key"])))
    result = verify_attestation(forged, adapter=world["adapter"], sample=4, seed=1, public_key=world["pub"])
    assert not result.passed and result.identical == 4 and result.same_verdicts == 0
    assert "not what the same judges give" in result.reasons[0]
    assert all(m.identical and set(m.verdicts_changed) == set(JUDGES) for m in result.mismatches)


def test_the_tolerance_policy_counts_regenerated_differences(world: dict[str, Path]) -> None:
    """Recorded completions that the model no longer gives (as on other hardware) count against the policy."""
    honest = world["root"] / "honest2.json"
    write_attestation(world["tuned"], honest)
    document = json.loads(honest.read_text())
    for sample in document["body"]["samples"][:3]:
        sample["completion_sha256"] = "0" * 64
    drifted = world["root"] / "drifted.json"
    drifted.write_text(json.dumps(seal(document["body"])))
    strict = verify_attestation(drifted, adapter=world["adapter"], sample=12)
    assert strict.identical == 9 and not strict.passed and "9 of 12" in strict.reasons[0]
    assert sorted(m.sample_id for m in strict.mismatches) == sorted(s["id"] for s in document["body"]["samples"][:3])
    lenient = verify_attestation(drifted, adapter=world["adapter"], sample=12, tolerance=Tolerance(min_identical=0.75))
    assert lenient.passed and lenient.same_verdicts == 12 - sum(bool(m.verdicts_changed) for m in lenient.mismatches)
    with pytest.raises(AttestError, match="between 0 and 1"):
        Tolerance(min_identical=1.5)


def test_attest_refuses_other_sources_and_files_that_changed_since_the_audit(
    world: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(AttestError, match="neither a run directory"):
        write_attestation(tmp_path, tmp_path / "a.json")
    with pytest.raises(AttestError, match="is a run directory"):
        write_attestation(world["tuned"], tmp_path / "a.json", model="tuned")
    moved = tmp_path / "moved"
    shutil.copytree(world["tuned"], moved)
    other = _adapter(world["model"], tmp_path / "other-adapter", seed=3)
    config = (moved / "config.yaml").read_text().replace(str(world["adapter"]), str(other))
    (moved / "config.yaml").write_text(config)
    with pytest.raises(AttestError, match="not the ones"):
        write_attestation(moved, tmp_path / "a.json")
    assert not (tmp_path / "a.json").exists()


def test_keys_made_by_openssl_sign_and_verify(world: dict[str, Path], tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    key, pub = tmp_path / "key.pem", tmp_path / "key.pub"
    subprocess.run([openssl, "genpkey", "-algorithm", "ed25519", "-out", str(key)], check=True)
    subprocess.run([openssl, "pkey", "-in", str(key), "-pubout", "-out", str(pub)], check=True)
    out = tmp_path / "att.json"
    write_attestation(world["tuned"], out, key=key)
    assert (
        verify_attestation(out, adapter=world["adapter"], sample=0, public_key=pub).signature == "valid (trusted key)"
    )
    rsa = tmp_path / "rsa.pem"
    subprocess.run(
        [openssl, "genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:1024", "-out", str(rsa)],
        check=True,
        capture_output=True,
    )
    with pytest.raises(AttestError, match="not an Ed25519 key"):
        write_attestation(world["tuned"], tmp_path / "rsa.json", key=rsa)


def test_cli_attest_and_verify(world: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "att.json"
    runner = CliRunner()
    made = runner.invoke(
        app, ["attest", str(world["report"]), "--model", "tuned", "-o", str(out), "--key", str(world["key"])]
    )
    assert made.exit_code == 0, made.output
    assert "signed" in made.output and out.is_file()
    checked = runner.invoke(
        app,
        [
            "verify",
            str(out),
            "--adapter",
            str(world["adapter"]),
            "--sample",
            "4",
            "--public-key",
            str(world["pub"]),
            "--json",
            str(tmp_path / "verify.json"),
        ],
    )
    assert checked.exit_code == 0, checked.output
    assert "PASSED" in checked.output and json.loads((tmp_path / "verify.json").read_text())["passed"] is True
    other = build_tiny_model(tmp_path / "other", seed=9)
    failed = runner.invoke(app, ["verify", str(out), "--model", str(other), "--adapter", str(world["adapter"])])
    assert failed.exit_code == 1 and "FAILED" in failed.output and "weights differ" in failed.output
    bad = runner.invoke(app, ["verify", str(tmp_path / "missing.json")])
    assert bad.exit_code == 2 and "no such attestation file" in bad.output
