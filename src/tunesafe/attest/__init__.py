"""Attestations: a signed, verifiable record binding an audit's results to the weights that were audited.

``attest`` (:func:`write_attestation`) binds a finished audit run's model fingerprints, prompts, decoding
settings, judges and results; ``verify`` (:func:`verify_attestation`) checks a file, the model given and a
regenerated sample against it. Qi et al. 2023 (arXiv 2310.03693) recommend that licences of fine-tunable
models ask for proof that safety guardrails survived the fine-tuning: this is the proof, and its check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunesafe.attest.fingerprints import AttestError, ModelFingerprints, model_fingerprints
from tunesafe.attest.verify import Mismatch, Tolerance, Verification, verify_attestation

__all__ = [
    "AttestError",
    "AttestationResult",
    "Mismatch",
    "ModelFingerprints",
    "Tolerance",
    "Verification",
    "model_fingerprints",
    "verify_attestation",
    "write_attestation",
]


@dataclass(frozen=True)
class AttestationResult:
    path: Path
    run: Path
    content_sha256: str
    signed: bool
    n_samples: int


def write_attestation(
    source: str | Path, output: str | Path, *, model: str | None = None, key: str | Path | None = None
) -> AttestationResult:
    """Attest the finished audit run ``source`` (or a report's fine-tuned run ``model``) into ``output``,
    signed with the Ed25519 private key ``key`` (a PEM file) when given."""
    from tunesafe._util.io import atomic_write_json
    from tunesafe.attest.build import build_body, run_of
    from tunesafe.attest.document import seal

    run, comparison = run_of(source, model)
    document = seal(build_body(run, comparison), Path(key) if key is not None else None)
    atomic_write_json(Path(output), document)
    return AttestationResult(
        Path(output), run, document["content_sha256"], "signature" in document, len(document["body"]["samples"])
    )
