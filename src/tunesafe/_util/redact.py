"""Keeping secrets (API keys, bearer tokens) out of error messages, logs and run manifests.

A secret read by the library (e.g. the served model's API key, read from the environment by
``backends.http_client``) is registered with :func:`register_secret` for the life of the process;
:func:`redact` then replaces every registered value with ``***`` and also masks what looks like a
credential whatever its value: ``Authorization:`` header values, ``Bearer <token>`` and
``api_key`` / ``api-key`` / ``x-api-key`` fields (JSON, YAML, query strings). Servers echo such
things in error bodies (e.g. "Incorrect API key provided: sk-...").
"""

from __future__ import annotations

import re
import threading

MASK = "***"
MIN_SECRET_LENGTH = 4
"""Shorter values are not registered: masking every "abc" in a message would hide more than it protects."""

_lock = threading.Lock()
_secrets: set[str] = set()

# the value of an Authorization header, up to the end of the line or a closing quote (a value masked
# already is left alone: redacting twice, after newlines were joined, must not eat the rest of the line)
_AUTHORIZATION = re.compile(r"""(\bauthorization["']?\s*[:=]\s*["']?)(?!\*\*\*)[^\s"'][^"'\r\n]*""", re.IGNORECASE)
_BEARER = re.compile(r"(\bbearer\s+)[^\s\"',;}\]]+", re.IGNORECASE)
# api_key, api-key, apiKey, x-api-key, openai_api_key ... as a JSON / YAML field or a query parameter
_API_KEY = re.compile(
    r"""((?:\b|_)api[_-]?key["']?\s*[:=]\s*["']?)[^"'\s,;&}\]]+""",
    re.IGNORECASE,
)


def register_secret(value: str | None) -> None:
    """Remember ``value`` as a secret of this process: :func:`redact` masks it from now on.

    Empty values and values shorter than :data:`MIN_SECRET_LENGTH` characters are ignored.
    """
    if value is None:
        return
    value = value.strip()
    if len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        _secrets.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret and every credential-looking value replaced by ``***``."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)  # a secret containing another goes first
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _AUTHORIZATION.sub(lambda m: m.group(1) + MASK, text)
    text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    return _API_KEY.sub(lambda m: m.group(1) + MASK, text)


def forget_secrets() -> None:
    """Forget every registered secret (tests)."""
    with _lock:
        _secrets.clear()
