"""The model being audited, fine-tuned or judging with: a local / bundled / hub source, or a served endpoint."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from tunesafe.config.base import ConfigError, Strict

RESERVED_REQUEST_FIELDS = frozenset(
    {"model", "messages", "prompt", "max_tokens", "temperature", "top_p", "seed", "stream", "logprobs", "top_logprobs"}
)
"""Request fields tunesafe writes itself; ``endpoint.extra_body`` may not replace them."""


class EndpointSpec(Strict):
    """A served model behind an OpenAI-compatible ``/v1/chat/completions`` API (vLLM, llama.cpp
    server, TGI, ...); see ``docs/endpoints.md``.

    ``api_key_env`` is the *name* of the environment variable holding the key (the key itself never
    goes into configs, manifests or logs; ``None``: no key sent). ``revision`` is a label to bump
    when the deployment's weights change: with the served model name it is all the generation cache
    knows of the model's identity. ``chat_template`` names where the served model's chat template can
    be read (its ``.gguf``, its HF model folder or a bundled model name): with it tunesafe renders
    prompts itself and scores continuations over ``/completions`` (log-likelihoods: truthfulness
    margins, multiple choice); the template's content then enters the model fingerprint.
    ``extra_body`` adds server-specific fields to every request, the way the OpenAI SDK's
    ``extra_body`` does: e.g. ``{repeat_penalty: 1.0}`` for llama-cpp-python's server, whose default
    penalty of 1.1 otherwise changes greedy decoding. It enters the model fingerprint too.
    """

    base_url: str = Field(description="the API root, e.g. http://127.0.0.1:8000/v1")
    model: str = Field(description="the served model name (the request's `model` field)")
    api_key_env: str | None = None
    timeout_s: float = Field(120.0, gt=0)
    max_concurrency: int = Field(8, ge=1)
    max_retries: int = Field(3, ge=0)
    revision: str | None = None
    chat_template: str | None = Field(
        None, description="the served model's .gguf, HF folder or bundled name, for log-likelihoods over HTTP"
    )
    extra_body: dict[str, Any] | None = Field(
        None, description="server-specific request fields, e.g. {repeat_penalty: 1.0} for llama-cpp-python's server"
    )

    @model_validator(mode="after")
    def _http_url(self) -> EndpointSpec:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"endpoint.base_url must start with http:// or https://, got {self.base_url!r}")
        reserved = sorted(set(self.extra_body or {}) & RESERVED_REQUEST_FIELDS)
        if reserved:
            raise ValueError(
                f"endpoint.extra_body cannot set {', '.join(reserved)}: tunesafe sets them from the model and "
                "generation settings (generation.temperature, top_p, seed, max_new_tokens)"
            )
        return self


class ModelSpec(Strict):
    """Which model to run and how.

    ``source`` is a bundled model name (``tunesafe models``), a local HF directory, or
    ``hf:org/name`` (hub access needed). ``adapter`` is a LoRA adapter directory applied on top
    without merging. ``backend: openai`` talks to a served model described by ``endpoint``
    (``source`` is then unused).

    ``dtype: auto`` is bfloat16 on a CUDA GPU that supports it, float16 on an older CUDA GPU and
    float32 on CPU (``tunesafe._util.precision``). ``device_map: auto`` shards a model too large for
    one GPU across all of them (accelerate's ``device_map``); ``device`` then stays ``auto``.
    """

    source: str = "qwen2.5-coder-0.5b-instruct"
    adapter: str | None = None
    # imported: completions made elsewhere (no model); openai: a served OpenAI-compatible endpoint
    # llamacpp: a GGUF (or a bundled name, or a transformers folder exported once) run in-process by llama.cpp
    backend: Literal["hf", "scripted", "imported", "openai", "llamacpp"] = "hf"
    batch_size: int = Field(8, ge=1)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: str = "auto"
    device_map: str | None = Field(None, description='"auto": shard across every GPU (accelerate); hf backend only')
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: all cores)")
    system_prompt: str | None = None
    endpoint: EndpointSpec | None = None

    @model_validator(mode="after")
    def _endpoint_for_openai(self) -> ModelSpec:
        if self.backend == "openai" and self.endpoint is None:
            raise ValueError("backend openai needs endpoint: {base_url: ..., model: ...}")
        if self.backend != "openai" and self.endpoint is not None:
            raise ValueError(f"endpoint applies to backend openai only, not {self.backend!r}")
        if self.backend == "openai" and self.adapter is not None:
            raise ValueError("backend openai cannot apply an adapter; serve the adapted model instead")
        return self

    @model_validator(mode="after")
    def _device_map_for_hf(self) -> ModelSpec:
        if self.device_map is None:
            return self
        if self.backend != "hf":
            raise ValueError(f"device_map applies to backend hf only, not {self.backend!r}")
        if self.device != "auto":
            raise ValueError(f"device_map {self.device_map!r} places the model itself; leave device at auto")
        return self


def normalised_for_hash(data: Any) -> Any:
    """A config dump with every model spec (audited, judging or fine-tuned, recursively) written the
    way the config hashes saw it before ``dtype: auto`` and ``device_map`` existed.

    * ``dtype: auto`` hashes as ``float32``. Every run made before ``auto`` (the default since) ran
      with ``dtype: float32``, and on CPU ``auto`` *is* float32: so those run directories keep their
      hash and resume, and the pinned hashes stay as they were. On a GPU ``auto`` is bfloat16 or
      float16, which the hash does not try to tell apart: that would import torch and make the hash
      depend on the machine. What actually ran is in the model fingerprint instead (``HFBackend``
      hashes the *resolved* dtype), which ``runner._check_same_model`` compares on every resume and
      the generation cache keys on, so no run is continued, and no cached completion reused, at
      another precision.
    * ``device_map`` is left out, like ``device``: it places the weights, it does not change them.
    """
    if isinstance(data, dict):
        spec = "backend" in data
        return {
            k: "float32" if spec and k == "dtype" and v == "auto" else normalised_for_hash(v)
            for k, v in data.items()
            if not (spec and k == "device_map")
        }
    if isinstance(data, list):
        return [normalised_for_hash(v) for v in data]
    return data


def without_absent_endpoints(data: Any) -> Any:
    """A config dump with every ``endpoint: None`` of a model spec, and every endpoint's
    ``chat_template: None`` and ``extra_body: None``, left out (recursively), so that hashes of
    configs written before these existed stay the same."""
    if isinstance(data, dict):
        return {
            k: without_absent_endpoints(v)
            for k, v in data.items()
            if not (k == "endpoint" and v is None and "backend" in data)
            and not (k in ("chat_template", "extra_body") and v is None and "base_url" in data)
        }
    if isinstance(data, list):
        return [without_absent_endpoints(v) for v in data]
    return data


SERVED_PREFIX = "openai:"
LLAMACPP_PREFIX = "llamacpp:"


def model_overrides(
    model: str | None,
    *,
    base_url: str | None = None,
    api_key_env: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """The ``--set`` overrides a command line's ``--model`` stands for.

    ``llamacpp:<GGUF file or model>`` runs it in-process with llama.cpp (``docs/llamacpp.md``).
    ``openai:<served name>`` is a model served behind an OpenAI-compatible API (``docs/endpoints.md``)
    at ``base_url`` (default: the ``OPENAI_BASE_URL`` environment variable), with its key in the
    variable named ``api_key_env`` (default: no key sent); the config's other endpoint settings
    (``max_concurrency``, ``revision``, ...) are kept. Anything else is a ``model.source``. Values are
    written as JSON strings, so a served name such as ``1.0`` or ``yes`` stays text.
    """
    if model is None or not model.startswith(SERVED_PREFIX):
        if base_url or api_key_env:
            raise ConfigError("--base-url and --api-key-env go with --model openai:<served model name>")
        if model and model.startswith(LLAMACPP_PREFIX):
            source = model[len(LLAMACPP_PREFIX) :].strip()
            if not source:
                raise ConfigError("--model llamacpp: needs a GGUF file or a model name, e.g. llamacpp:model.gguf")
            return ["model.backend=llamacpp", f"model.source={json.dumps(source)}"]
        return [f"model.source={json.dumps(model)}"] if model else []
    served = model[len(SERVED_PREFIX) :].strip()
    if not served:
        raise ConfigError("--model openai: needs the served model's name, e.g. --model openai:my-finetune")
    base_url = base_url or (os.environ if environ is None else environ).get("OPENAI_BASE_URL") or None
    if not base_url:
        raise ConfigError(
            f"--model {model} needs --base-url (the API root, e.g. http://127.0.0.1:8000/v1) or OPENAI_BASE_URL set"
        )
    endpoint = {"base_url": base_url, "model": served, **({"api_key_env": api_key_env} if api_key_env else {})}
    return ["model.backend=openai", *(f"model.endpoint.{key}={json.dumps(value)}" for key, value in endpoint.items())]
