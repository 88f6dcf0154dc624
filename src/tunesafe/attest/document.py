"""The attestation file: a body, the sha256 of its canonical JSON, and an optional Ed25519 signature.

The body is hashed as read (sorted keys, no whitespace: ``_util.hashing.canonical_json``), so any edit to
it, however small, changes ``content_sha256``; a signature over the same canonical bytes ties it to a key
its holder keeps (RFC 8032 Ed25519, through the ``cryptography`` package: ``pip install 'tunesafe[attest]'``).
Keys are the PEM files OpenSSL writes (``openssl genpkey -algorithm ed25519 -out key.pem``;
``openssl pkey -in key.pem -pubout -out key.pub``). This is how Qi et al. 2023 (arXiv 2310.03693, Sec. 6)
would have a licence ask for proof that a fine-tune's guardrails survived: the licensee signs what was
audited, the licensor checks it with the public key and by regenerating a sample (``attest.verify``).
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesafe._util.hashing import canonical_json, sha256_text
from tunesafe._util.redact import register_secret
from tunesafe.attest.fingerprints import AttestError

__all__ = ["FORMAT", "PASSPHRASE_ENV", "Integrity", "check_integrity", "read_attestation", "seal"]

FORMAT = "tunesafe-attestation/1"
PASSPHRASE_ENV = "TUNESAFE_SIGNING_PASSPHRASE"  # for an encrypted private key (never a command-line argument)
_ALGORITHM = "ed25519"


@dataclass(frozen=True)
class Integrity:
    """What the file itself proves: its body is the one hashed, and who signed it (if anyone)."""

    content_ok: bool
    signed: bool
    signature_ok: bool | None  # None: unsigned
    trusted_key: bool  # the signature was checked against a key the verifier gave, not only the embedded one
    key_sha256: str | None
    reasons: list[str]

    @property
    def ok(self) -> bool:
        return self.content_ok and self.signature_ok is not False


def seal(body: dict[str, Any], key: Path | None = None) -> dict[str, Any]:
    """The attestation document of ``body``: its content hash and, with ``key`` (an Ed25519 private key PEM),
    its signature and public key."""
    text = canonical_json(body)
    payload = text.encode("utf-8")
    document: dict[str, Any] = {"format": FORMAT, "content_sha256": sha256_text(text)}
    if key is not None:
        private = _private_key(key)
        public = _public_pem(private.public_key())
        document["signature"] = {
            "algorithm": _ALGORITHM,
            "public_key": public,
            "key_sha256": sha256_text(public),
            "value": base64.b64encode(private.sign(payload)).decode("ascii"),
        }
    document["body"] = body
    return document


def read_attestation(path: Path) -> dict[str, Any]:
    """The document at ``path``, its shape checked (not its integrity: :func:`check_integrity`)."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise AttestError(f"{path}: no such attestation file") from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AttestError(f"{path}: not a readable attestation ({err})") from err
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise AttestError(f"{path}: not a tunesafe attestation (format {found!r}, expected {FORMAT!r})")
    if not isinstance(document.get("body"), dict) or not isinstance(document.get("content_sha256"), str):
        raise AttestError(f"{path}: an attestation needs a body object and its content_sha256")
    signature = document.get("signature")
    if signature is not None and not (
        isinstance(signature, dict) and all(isinstance(signature.get(k), str) for k in ("public_key", "value"))
    ):
        raise AttestError(f"{path}: its signature needs a public_key and a value")
    return document


def check_integrity(document: dict[str, Any], public_key: Path | None = None) -> Integrity:
    """Recompute the body's hash and check the signature, with ``public_key`` (a PEM the verifier trusts)
    when given: an unsigned document, or one signed by another key, then fails."""
    text = canonical_json(document["body"])
    payload = text.encode("utf-8")
    reasons: list[str] = []
    content_ok = sha256_text(text) == document["content_sha256"]
    if not content_ok:
        reasons.append("the body was changed after it was sealed: its sha256 is not the recorded content_sha256")
    signature = document.get("signature")
    if signature is None:
        if public_key is not None:
            reasons.append(f"the attestation is not signed, and --public-key {public_key} asks for a signature")
        return Integrity(content_ok, False, False if public_key else None, False, None, reasons)
    if signature.get("algorithm") != _ALGORITHM:
        reasons.append(f"unknown signature algorithm {signature.get('algorithm')!r} (tunesafe signs with Ed25519)")
        return Integrity(content_ok, True, False, False, None, reasons)
    embedded = signature["public_key"]
    key_pem = embedded
    if public_key is not None:
        key_pem = _public_pem(_load_public_key(public_key))
        if key_pem.strip() != embedded.strip():
            reasons.append(f"signed by another key (sha256 {sha256_text(embedded)[:16]}…), not {public_key}")
            return Integrity(content_ok, True, False, True, sha256_text(embedded), reasons)
    signature_ok = _signature_valid(key_pem, signature["value"], payload)
    if not signature_ok:
        reasons.append("the signature does not match the body: the file was altered or signed over something else")
    return Integrity(content_ok, True, signature_ok, public_key is not None, sha256_text(key_pem), reasons)


# --------------------------------------------------------------------------- keys


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as err:
        raise AttestError(
            "signing and checking signatures need the cryptography package: pip install 'tunesafe[attest]'"
        ) from err
    return serialization, ed25519


def _private_key(path: Path) -> Any:
    serialization, ed25519 = _crypto()
    data = _read_key(path, "private")
    passphrase = os.environ.get(PASSPHRASE_ENV)
    register_secret(passphrase)
    try:
        key = serialization.load_pem_private_key(data, password=passphrase.encode() if passphrase else None)
    except TypeError as err:  # encrypted without a passphrase, or a passphrase for a plain key
        raise AttestError(f"{path}: {err}; an encrypted key's passphrase goes in ${PASSPHRASE_ENV}") from err
    except ValueError as err:
        raise AttestError(f"{path}: not a PEM private key, or a wrong passphrase ({err})") from err
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise AttestError(f"{path}: not an Ed25519 key; make one with `openssl genpkey -algorithm ed25519 -out {path}`")
    return key


def _load_public_key(path: Path) -> Any:
    serialization, ed25519 = _crypto()
    data = _read_key(path, "public")
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as err:
        raise AttestError(f"{path}: not a PEM public key ({err})") from err
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise AttestError(f"{path}: not an Ed25519 public key (`openssl pkey -in key.pem -pubout -out {path}`)")
    return key


def _read_key(path: Path, kind: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise AttestError(f"{path}: cannot read the {kind} key ({err.strerror or err})") from err


def _public_pem(key: Any) -> str:
    serialization, _ = _crypto()
    raw: bytes = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return raw.decode("ascii")


def _signature_valid(public_pem: str, value: str, payload: bytes) -> bool:
    serialization, _ = _crypto()
    from cryptography.exceptions import InvalidSignature

    try:
        key = serialization.load_pem_public_key(public_pem.encode("ascii"))
        key.verify(base64.b64decode(value, validate=True), payload)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
