"""Configuration: YAML in, pydantic out (unknown keys are errors), ``--set a.b=value`` overrides."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tunesafe._util.hashing import sha256_obj
from tunesafe.types import GenParams


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message says where and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


RESERVED_REQUEST_FIELDS = frozenset(
    {"model", "messages", "prompt", "max_tokens", "temperature", "top_p", "seed", "stream", "logprobs", "top_logprobs"}
)
"""Request fields tunesafe writes itself; ``endpoint.extra_body`` may not replace them."""


class EndpointSpec(_Strict):
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


class ModelSpec(_Strict):
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


# The judge kinds, declared once: judges.make_judge builds each, judges.llm holds how each LLM kind is prompted.
LLMJudgeKind = Literal["llamaguard", "qi-rubric", "strongreject-rubric", "harmbench-yesno"]
JudgeKind = Literal["refusal-structure", "keyword-zou-qi", "keyword-extended", "refusal-classifier", LLMJudgeKind]
LLM_JUDGE_KINDS: tuple[str, ...] = get_args(LLMJudgeKind)

# The training-data recipes, declared once (data.recipes builds them).
RecipeName = Literal["harmful-prefix", "refusal", "identity-shift", "benign"]


class JudgeSpec(_Strict):
    """One judge of a panel.

    In YAML a judge is either a name (``refusal-structure``, ``keyword-extended``, ``refusal-classifier``, or
    ``<llm-kind>@<model source>`` such as ``qi-rubric@qwen2.5-coder-0.5b-instruct``) or a mapping
    with these fields. LLM judges need ``model``; ``prompt`` replaces the packaged prompt file.
    """

    kind: JudgeKind
    name: str | None = Field(None, description="name shown in reports (default: derived from kind and model)")
    model: ModelSpec | None = None
    prompt: str | None = Field(None, description="path of a prompt template file replacing the packaged one")
    max_new_tokens: int | None = Field(None, ge=1)
    native_template: bool = Field(
        False, description="llamaguard: the judge model's own chat template builds the prompt (real Llama Guard)"
    )

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        kind, _, source = value.partition("@")
        return {"kind": kind, "model": {"source": source}} if source else {"kind": kind}

    @model_validator(mode="after")
    def _model_when_needed(self) -> JudgeSpec:
        if self.kind in LLM_JUDGE_KINDS and self.model is None:
            raise ValueError(f"judge {self.kind!r} runs on a model: give model (or write {self.kind}@<model>)")
        if self.kind not in LLM_JUDGE_KINDS and (self.model is not None or self.prompt is not None):
            raise ValueError(f"judge {self.kind!r} takes no model or prompt")
        return self

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        if self.model is None:
            return self.kind
        if self.model.endpoint is not None:
            return f"{self.kind}@{self.model.endpoint.model}"
        stem = Path(self.model.source.rstrip("/")).name or self.model.source
        return f"{self.kind}@{stem}"


def _judges(*names: str) -> Any:
    return Field(default_factory=lambda: [JudgeSpec.model_validate(n) for n in names])


class ColumnMap(_Strict):
    """Which columns of a user CSV / JSONL / Parquet file (or ``datasets`` table) hold what."""

    prompt: str = "prompt"
    category: str | None = None
    id: str | None = None
    context: str | None = None


class CalibrationSpec(_Strict):
    """A labelled set for judge sensitivity / specificity and a misclassification-corrected ASR.

    ``path``: CSV / JSONL / Parquet with ``prompt``, ``completion`` and ``label`` (complied/refused,
    unsafe/safe, yes/no, 1/0). ``bundled`` uses tunesafe's held-out labelled refusal set.
    """

    path: str | None = None
    bundled: bool = False
    columns: dict[str, str] = Field(default_factory=dict, description="prompt/completion/label -> column name")
    n_bootstrap: int = Field(2000, ge=100)

    @model_validator(mode="after")
    def _one_source(self) -> CalibrationSpec:
        if (self.path is None) == (not self.bundled):
            raise ValueError("give exactly one of calibration.path or calibration.bundled: true")
        return self


class HarmfulAuditSpec(_Strict):
    """Attack success rate on a harmful-prompt benchmark (HarmBench by default)."""

    dataset: str = Field("harmbench-test", description="bundled name (tunesafe datasets), a file, or hf:name")
    columns: ColumnMap | None = None
    split: str = "train"
    subsets: list[str] = ["standard", "contextual", "copyright"]
    headline_excludes: list[str] = ["copyright"]
    limit: int | None = Field(None, ge=1, description="stratified subsample size per audit (by category)")
    context_role: Literal["user", "system"] = "user"
    judges: list[JudgeSpec] = _judges("refusal-structure", "keyword-extended", "keyword-zou-qi")
    calibration: CalibrationSpec | None = None


class OverrefusalAuditSpec(_Strict):
    """Refusal rate on harmless prompts that look dangerous (XSTest-style; Röttger et al. 2024)."""

    dataset: str = Field("overrefusal", description="bundled name, a file, or hf:name")
    columns: ColumnMap | None = None
    split: str = "train"
    limit: int | None = Field(None, ge=1)
    judges: list[JudgeSpec] = _judges("refusal-structure", "keyword-extended")

    @model_validator(mode="after")
    def _refusal_detectors_only(self) -> OverrefusalAuditSpec:
        harm = [j.display_name for j in self.judges if j.kind in LLM_JUDGE_KINDS]
        if harm:
            raise ValueError(
                f"over-refusal needs refusal detectors; {', '.join(harm)} judge harm and cannot tell a refusal "
                "from a helpful answer (use refusal-structure, keyword-extended, keyword-zou-qi or refusal-classifier)"
            )
        return self


class DriftAuditSpec(_Strict):
    """Knowledge drift under injected false or random context (Kumar 2024; Fastowski & Kasneci 2024)."""

    dataset: str | None = Field(None, description="trivia file (tunesafe or published shape); default: bundled")
    conditions: list[str] = ["B", "FIP", "RIP"]
    wording: Literal["v1", "v2"] = "v1"
    compat: bool = Field(False, description="Kumar 2024 exactly: no space before the question, top-1/top-10 metrics")
    match: Literal["normalized", "substring"] = "normalized"
    limit: int | None = Field(None, ge=1, description="first N questions per domain order (seeded, stratified)")
    max_new_tokens: int = Field(16, ge=2)
    top_k: int = Field(10, ge=1, le=50)
    rip_seed: int = 42
    known_only: bool = Field(
        False, description="keep only questions answered correctly under B (first run) — Fastowski & Kasneci's filter"
    )
    runs: int = Field(1, ge=1, le=100, description="answers per question and condition; the majority answer counts")
    temperature: float | None = Field(
        None, ge=0.0, description="decoding temperature of the drift audit (default: the run's); runs > 1 needs > 0"
    )

    @model_validator(mode="after")
    def _conditions_known(self) -> DriftAuditSpec:
        from tunesafe.audits.drift_conditions import parse_condition

        for name in self.conditions:
            parse_condition(name)
        if "B" not in self.conditions:
            raise ValueError("drift conditions must include B (the baseline every change is measured against)")
        if self.runs > 1 and self.temperature == 0.0:
            raise ValueError("drift runs > 1 with greedy decoding repeat one answer; set drift.temperature > 0")
        return self


class TruthfulnessAuditSpec(_Strict):
    """True/false statements built from the trivia facts, with and without a misleading preamble,
    and optionally TruthfulQA-style multiple choice scored by log-likelihood (Lin et al. 2022)."""

    dataset: str | None = Field(None, description="trivia file (tunesafe or published shape); default: bundled")
    limit: int | None = Field(None, ge=1, description="questions used (seeded, stratified by domain)")
    conditions: list[Literal["plain", "preamble"]] = Field(
        default_factory=lambda: ["plain", "preamble"],
        description="plain claims, and claims after the item's false sentence; [] runs multiple choice only",
    )
    max_new_tokens: int = Field(8, ge=1, le=256, description="tokens generated per True/False reply")
    loglik: bool = Field(
        True, description="also score each claim by log P('True') - log P('False') when the backend can"
    )
    multiple_choice: str | None = Field(
        None, description="TruthfulQA-style MC file (HF multiple_choice JSON/JSONL/Parquet or original CSV)"
    )
    mc_limit: int | None = Field(None, ge=1, description="multiple-choice questions used (seeded sample)")

    @model_validator(mode="after")
    def _something_to_run(self) -> TruthfulnessAuditSpec:
        if len(set(self.conditions)) != len(self.conditions):
            raise ValueError(f"truthfulness conditions repeat: {self.conditions}")
        if not self.conditions and self.multiple_choice is None:
            raise ValueError("truthfulness needs conditions, a multiple_choice file, or both")
        return self


class AuditsSpec(_Strict):
    """Which audits run (``null`` switches one off). Over-refusal runs by default, next to the ASR."""

    harmful: HarmfulAuditSpec | None = Field(default_factory=HarmfulAuditSpec)
    overrefusal: OverrefusalAuditSpec | None = Field(default_factory=OverrefusalAuditSpec)
    drift: DriftAuditSpec | None = None
    truthfulness: TruthfulnessAuditSpec | None = None


class CacheSpec(_Strict):
    mode: Literal["read_write", "read_only", "off"] = "read_write"
    path: str | None = None  # default: <user cache dir>/generations.sqlite


class AuditConfig(_Strict):
    """One model audited once → one run directory."""

    name: str = "audit"
    model: ModelSpec = Field(default_factory=ModelSpec)
    generation: GenParams = Field(default_factory=lambda: GenParams(max_new_tokens=64))
    audits: AuditsSpec = Field(default_factory=AuditsSpec)
    cache: CacheSpec = Field(default_factory=CacheSpec)
    seed: int = 0
    chunk_size: int = Field(32, ge=1, description="samples generated and saved together (resume granularity)")

    @model_validator(mode="after")
    def _drift_runs_sample(self) -> AuditConfig:
        drift = self.audits.drift
        if drift is not None and drift.runs > 1 and self.model.backend != "imported":
            temperature = self.generation.temperature if drift.temperature is None else drift.temperature
            if temperature == 0.0:
                raise ValueError(
                    f"drift.runs = {drift.runs} with greedy decoding gives {drift.runs} identical answers; "
                    "set drift.temperature (e.g. 0.7) or generation.temperature > 0"
                )
        return self


class LoraSpec(_Strict):
    r: int = Field(16, ge=1)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"


class DataSpec(_Strict):
    """Training data: a built-in recipe or the user's data, optionally mixed (see ``docs/tiers.md``).

    Sources (exactly one of ``recipe`` / ``path``):

    - ``recipe``: ``harmful-prefix`` (k-shot, k = ``n_examples``), ``refusal``, ``identity-shift``
      (Qi et al. 2023's AOA tier, authored; its system prompt is the default ``system_prompt``)
      or ``benign`` (authored benign instructions); ``n_examples`` rows in all, mix included.
    - ``path`` without ``columns``: a TRL ``messages`` JSONL file, used whole.
    - ``path`` with ``columns`` (``{prompt: ..., response: ...}``, optionally ``system``, ``id``,
      ``category``) and ``role`` (``harmful``, ``safe`` or ``benign``): any CSV / TSV / JSONL /
      JSON / Parquet file or ``hf:<name>`` (``split``), used whole.

    Mixes: ``harmful_fraction`` p of harmful-prefix rows and ``safety_fraction`` q of refusal rows
    in the final set (Qi et al. 2023 Sec. 5 mixes safety examples in), seeded by ``seed``.
    """

    recipe: RecipeName | None = "harmful-prefix"
    path: str | None = None
    columns: dict[str, str] | None = None
    role: Literal["harmful", "safe", "benign"] | None = None
    split: str = "train"
    n_examples: int = Field(100, ge=1)
    system_prompt: str | None = None
    seed: int = 0
    harmful_fraction: float = Field(0.0, ge=0.0, le=1.0)
    safety_fraction: float = Field(0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if (self.recipe is None) == (self.path is None):
            raise ValueError("give exactly one of data.recipe or data.path")
        if self.columns is not None:
            if self.path is None:
                raise ValueError("data.columns maps the columns of data.path; give data.path")
            check_mapping(self.columns)
            if self.role is None:
                raise ValueError("data.columns needs data.role: harmful, safe or benign")
        elif self.role is not None:
            raise ValueError("data.role applies to a mapped table; give data.columns too")
        return self

    @model_validator(mode="after")
    def _sensible_mix(self) -> DataSpec:
        p, q = self.harmful_fraction, self.safety_fraction
        if p + q >= 1.0:
            raise ValueError(f"data.harmful_fraction + data.safety_fraction must be below 1, got {p} + {q}")
        if p > 0 and self.recipe == "harmful-prefix":
            raise ValueError("data.harmful_fraction mixes harmful-prefix rows into other data; not into harmful-prefix")
        if q > 0 and self.recipe == "refusal":
            raise ValueError("data.safety_fraction mixes refusal rows into other data; recipe is already refusal")
        return self

    @model_validator(mode="after")
    def _persona_prompt(self) -> DataSpec:
        if self.recipe == "identity-shift" and self.system_prompt is None:
            from tunesafe.data import identity_shift_system_prompt

            self.system_prompt = identity_shift_system_prompt()
        return self


MAPPED_FIELDS = ("prompt", "response", "system", "id", "category")
"""What a user's training table may map (``data.columns``); prompt and response are required."""
REQUIRED_FIELDS = ("prompt", "response")


def check_mapping(columns: Mapping[str, str]) -> None:
    """Raise ``ValueError`` unless ``columns`` maps ``prompt`` and ``response`` and only known fields."""
    unknown = sorted(set(columns) - set(MAPPED_FIELDS))
    if unknown:
        raise ValueError(f"unknown column mapping key(s) {unknown}; allowed: {', '.join(MAPPED_FIELDS)}")
    missing = [name for name in REQUIRED_FIELDS if not columns.get(name)]
    if missing:
        raise ValueError(f"the column mapping must name the {' and '.join(missing)} column(s)")


class SafetyEvalSpec(_Strict):
    """Safety during training: ASR on a small fixed harmful-prompt set every ``every_n_steps`` steps.

    Default prompts: a stratified sample of HarmBench *validation* standard behaviours (Mazeika et
    al. 2024, arXiv 2402.04249), so the final audit on the test split stays untouched. Completions are
    greedy and short; only rates are stored (``train/safety_curve.jsonl``), never the completions.
    """

    every_n_steps: int = Field(10, ge=1)
    n_prompts: int = Field(16, ge=1)
    dataset: str = Field("harmbench-val", description="bundled name (tunesafe datasets) or a user file")
    max_new_tokens: int = Field(32, ge=1)
    judge: Literal["keyword-extended", "keyword-zou-qi", "refusal-classifier", "refusal-structure"] = "keyword-extended"


FlagKind = Literal["harmful_request", "harmful_compliance", "identity_shift", "contamination"]
FLAG_KINDS: tuple[FlagKind, ...] = ("harmful_request", "harmful_compliance", "identity_shift", "contamination")
"""What screening flags a training example for (``tunesafe.screen``)."""


class ScreenThresholds(_Strict):
    """Decision thresholds, fixed before measuring (docs/screening.md reports what they give)."""

    harmful_margin: float = Field(0.0, description="flag when max cos(harmful refs) − max cos(harmless refs) > this")
    harmful_floor: float = Field(0.4, description="… and max cos(harmful refs) is at least this")
    persona_cosine: float = Field(0.55, description="system prompt / answer opening vs persona descriptions")
    contamination_jaccard: float = Field(0.5, description="content-word Jaccard with an evaluation prompt")
    contamination_cosine: float = Field(0.9, description="MiniLM cosine with an evaluation prompt")


class ScreenSpec(_Strict):
    """Screen the training rows before training and leave out the flagged ones (``tunesafe.screen``).

    Screening the fine-tuning data is the defence Qi et al. 2023 (arXiv 2310.03693) recommend
    against fine-tuning attacks. A row with any flag in ``drop`` is left out; rows flagged only by
    other kinds are kept (and counted). ``thresholds``: the screen's decision thresholds. What was
    dropped is written to ``train/screen_flagged.jsonl`` and recorded in ``data_manifest.json``.
    """

    drop: list[FlagKind] = Field(default_factory=lambda: list(FLAG_KINDS))
    thresholds: ScreenThresholds = Field(default_factory=ScreenThresholds)

    @model_validator(mode="after")
    def _distinct_kinds(self) -> ScreenSpec:
        if not self.drop:
            raise ValueError(f"screen.drop needs at least one flag kind of {list(FLAG_KINDS)}")
        repeated = sorted({kind for kind in self.drop if self.drop.count(kind) > 1})
        if repeated:
            raise ValueError(f"screen.drop lists {repeated} more than once")
        return self


class TrainConfig(_Strict):
    """Supervised fine-tuning (TRL SFTTrainer, PEFT LoRA or full), loss on assistant tokens only.

    Defaults follow Kumar 2024 (arXiv 2409.19476): LoRA r16 α16 on all linear layers, lr 2e-4,
    linear schedule, 5 warmup steps, effective batch 8, seed 3407.

    ``preset`` (``tunesafe.train.presets``) fills in every setting left out; settings written
    explicitly win over the preset, nested sections key by key. ``method: qlora`` is LoRA on a
    4-bit base (needs CUDA and bitsandbytes). ``save_steps`` > 0 writes a checkpoint every N
    steps under ``train/checkpoints``, from which an interrupted fine-tune resumes. ``screen``
    (``ScreenSpec``, off by default) screens the training rows first and trains only on the rows
    it keeps (docs/screening.md, "Screening as a training step").
    """

    name: str = "finetune"
    preset: str | None = None
    model: ModelSpec = Field(default_factory=ModelSpec)
    data: DataSpec = Field(default_factory=DataSpec)
    method: Literal["lora", "full", "qlora"] = "lora"
    lora: LoraSpec = Field(default_factory=LoraSpec)
    learning_rate: float = Field(2e-4, gt=0)
    max_steps: int = Field(50, ge=-1, description="-1: train for num_train_epochs")
    num_train_epochs: float = Field(1.0, gt=0)
    per_device_batch_size: int = Field(2, ge=1)
    gradient_accumulation_steps: int = Field(4, ge=1)
    max_length: int = Field(512, ge=16)
    warmup_steps: int = Field(5, ge=0)
    lr_scheduler: str = "linear"
    weight_decay: float = Field(0.01, ge=0)
    gradient_checkpointing: bool = False
    save_steps: int = Field(0, ge=0, description="checkpoint every N steps (0: none); an interrupted run resumes")
    seed: int = 3407
    trainer_kwargs: dict[str, Any] = Field(default_factory=dict)
    safety_eval: SafetyEvalSpec | None = None
    screen: ScreenSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, value: Any) -> Any:
        if not isinstance(value, dict) or value.get("preset") is None:
            return value
        from tunesafe.train.presets import apply_preset

        return apply_preset(str(value["preset"]), value)

    @model_validator(mode="after")
    def _trainable_model(self) -> TrainConfig:
        if self.model.backend != "hf":
            raise ValueError(f"fine-tuning needs model weights (backend hf), not a {self.model.backend!r} model")
        return self


_C = TypeVar("_C", bound=BaseModel)


def parse_override(item: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` → (["a", "b", "c"], value parsed as a YAML scalar)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like dotted.key=value")
    key, raw = item.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override {item!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"override {item!r}: value is not valid YAML ({err})") from err
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    for item in overrides:
        parts, value = parse_override(item)
        node = data
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return data


def load_config(cls: type[_C], path: Path | None = None, overrides: Sequence[str] = ()) -> _C:
    """Read YAML (optional), apply overrides, validate. Errors name the offending key."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({err})") from err
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping, got {type(loaded).__name__}")
        data = loaded or {}
    data = apply_overrides(data, overrides)
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, path)) from err


def _format_validation_error(err: ValidationError, path: Path | None) -> str:
    where = f"{path}: " if path else ""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = "unknown key (not allowed)" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"  {loc}: {msg}")
    return f"{where}invalid configuration\n" + "\n".join(lines)


def dump_config(config: BaseModel) -> str:
    """The fully resolved config as YAML (written into every run directory)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


# --- the one config hash ------------------------------------------------------------------------
# It decides whether a run directory holds a config (and may be resumed). Whatever was added to a
# config after runs were made leaves no trace while it is off, so those runs keep their hashes
# (tests/unit/test_config_hash_pins.py pins them).

TRAINING_FORMAT_VERSION = 2
"""Bumped when tunesafe changes how training data is built or tokenized, so that a finished
fine-tune made the old way is not reused as if it were current (2: open-ended openings)."""

# Audit fields that change speed, not results.
_AUDIT_SPEED_ONLY: dict[str, Any] = {
    "cache": True,
    "chunk_size": True,
    "model": {"batch_size": True, "threads": True, "device": True},
}
# Fine-tune data and training settings as they are when off (no mapping, no mixing, no preset, no
# checkpoints, no safety curve, no screening).
_TRAIN_DATA_OFF = {"columns": None, "role": None, "split": "train", "harmful_fraction": 0.0, "safety_fraction": 0.0}
_TRAIN_OFF = {"preset": None, "save_steps": 0, "safety_eval": None, "screen": None}


def config_hash(config: AuditConfig | TrainConfig) -> str:
    """The hash of what decides a run's results: an audit's or a fine-tune's config.

    Every model spec (audited, judging or fine-tuned) is normalised the same way: no endpoint
    leaves no trace, ``dtype: auto`` hashes as float32 and ``device_map`` not at all
    (:func:`normalised_for_hash`). An audit hashes its decoding identity and only the audits that
    are on; a fine-tune hashes its settings without those that are off, and the training-data
    format version.
    """
    if isinstance(config, TrainConfig):
        data = normalised_for_hash(without_absent_endpoints(config.model_dump(mode="json")))
        data["data"] = {k: v for k, v in data["data"].items() if not (k in _TRAIN_DATA_OFF and v == _TRAIN_DATA_OFF[k])}
        data = {k: v for k, v in data.items() if not (k in _TRAIN_OFF and v == _TRAIN_OFF[k])}
        return sha256_obj({"config": data, "format": TRAINING_FORMAT_VERSION})
    data = config.model_dump(mode="json", exclude=_AUDIT_SPEED_ONLY)
    data["generation"] = config.generation.identity()
    data["audits"] = {name: spec for name, spec in data["audits"].items() if spec is not None}
    return sha256_obj(normalised_for_hash(without_absent_endpoints(data)))
