"""Supervised fine-tuning with TRL's ``SFTTrainer`` (PEFT LoRA or full), loss on the answer only.

Reproduces the training side of Kumar 2024 (arXiv 2409.19476: LoRA r16/α16 on all linear layers,
lr 2e-4, linear schedule, 5 warmup steps, effective batch 8, seed 3407, loss on assistant tokens
only) and Qi et al. 2023 (arXiv 2310.03693: prompt tokens masked out of the loss).

Every row is turned into TRL's conversational *prompt-completion* form
(``prompt`` = all turns but the last, ``completion`` = the final assistant turn). TRL 1.16 then
renders ``prompt`` with the model's own chat template and ``add_generation_prompt=True`` — the
exact prompt an audit generates from — renders ``prompt + completion`` with the same template,
and sets the label of every token before the completion to -100 (``completion_only_loss``).

Output layout under ``out_dir/train/``: ``data.jsonl`` (the exact training rows),
``data_manifest.json``, ``model/`` (LoRA adapter or full model, plus the tokenizer),
``trainer_state.json`` (``log_history`` holds the loss of every step) and, with ``save_steps``,
``checkpoints/checkpoint-N`` (the latest one is kept; an interrupted fine-tune resumes from it)
and, with ``screen``, ``screen_flagged.jsonl`` (the rows screening left out, each with its flags).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import BaseModel

from tunesafe._util.hashing import sha256_file
from tunesafe._util.io import atomic_write_json, atomic_write_text
from tunesafe.config import DataSpec, ScreenSpec, TrainConfig
from tunesafe.data.formats import read_messages_jsonl, to_prompt_completion, write_messages_jsonl

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase
    from trl import SFTTrainer

    from tunesafe.data.recipes import MixPlan
    from tunesafe.screen import Screener

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]

SCREEN_FLAGGED_FILE = "screen_flagged.jsonl"


class TrainResult(BaseModel):
    """What a fine-tune produced. Exactly one of ``adapter_dir`` / ``full_model_dir`` is set."""

    model_dir: Path
    adapter_dir: Path | None = None
    full_model_dir: Path | None = None
    steps: int
    first_loss: float | None
    final_loss: float | None
    train_seconds: float
    n_examples: int
    data_sha256: str


def finetune(
    cfg: TrainConfig, out_dir: Path, progress: ProgressFn | None = None, *, resume: bool = True
) -> TrainResult:
    """Fine-tune ``cfg.model`` on ``cfg.data`` and write everything under ``out_dir/train``.

    A recipe builds ``cfg.data.n_examples`` rows; a user JSONL file (``cfg.data.path``) is used
    whole (``n_examples`` is ignored). ``progress(step, total)`` is called after every
    optimiser step. With ``resume`` (the default), training continues from the latest
    ``train/checkpoints/checkpoint-N`` if there is one; the caller makes sure it was written by
    this same config (``finetune_run`` does, through the config hash). With ``cfg.screen``, the
    rows are screened first and only the rows it keeps are trained on (:func:`screen_training_rows`).
    """
    if cfg.method == "qlora":
        require_qlora_support()
    train_dir = Path(out_dir) / "train"
    model_dir = _resolve_model(cfg.model.source)
    with _quiet_progress_bars(), _torch_threads(cfg.model.threads), _known_upstream_warnings_silenced():
        tokenizer = load_tokenizer(model_dir)
        rows, provenance = training_rows(cfg.data, tokenizer, cfg.max_length)
        if cfg.screen is not None:
            rows = screen_training_rows(cfg.screen, rows, provenance, train_dir)
        data_sha = write_training_data(train_dir, rows, provenance, cfg)
        trainer = build_trainer(cfg, model_dir, tokenizer, rows, train_dir, progress)
        _warn_if_rows_dropped(len(rows), len(trainer.train_dataset))
        checkpoint = last_checkpoint(train_dir / "checkpoints") if resume else None
        if checkpoint is not None:
            logger.info("resuming the fine-tune from %s", checkpoint)
        start = time.perf_counter()
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint is not None else None)
        seconds = time.perf_counter() - start
        saved = _save_outputs(trainer, tokenizer, train_dir)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return TrainResult(
        model_dir=model_dir,
        adapter_dir=saved if cfg.method in ("lora", "qlora") else None,
        full_model_dir=saved if cfg.method == "full" else None,
        steps=trainer.state.global_step,
        first_loss=losses[0] if losses else None,
        final_loss=losses[-1] if losses else None,
        train_seconds=round(seconds, 3),
        n_examples=len(rows),
        data_sha256=data_sha,
    )


# --- model and tokenizer --------------------------------------------------------------------


def _resolve_model(source: str) -> Path:
    from tunesafe.assets import resolve_model_source

    return Path(resolve_model_source(source))


def load_tokenizer(model_dir: Path) -> PreTrainedTokenizerBase:
    """The model's own tokenizer and chat template (the one the audit generates with)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    if not tokenizer.chat_template:
        raise ValueError(f"{model_dir}: the tokenizer has no chat template; chat fine-tuning needs one")
    return tokenizer


class TrainingPrecision(NamedTuple):
    """How a fine-tune runs on this machine (:func:`training_precision`)."""

    dtype: str
    """The dtype the model's weights are loaded in (QLoRA: the compute dtype of the 4-bit layers)."""
    bf16: bool
    """``TrainingArguments.bf16``: the forward pass autocast to bfloat16."""
    use_cpu: bool
    """``TrainingArguments.use_cpu``: no CUDA device is used."""


def training_precision(cfg: TrainConfig) -> TrainingPrecision:
    """The weights' dtype and the autocast of a fine-tune of ``cfg`` on this machine.

    ``model.dtype: auto`` on a CUDA GPU with native bfloat16 (Ampere, Hopper, ...): LoRA and QLoRA
    load the frozen base in bfloat16 and train under bf16 autocast (PEFT keeps the adapter weights
    in float32); a full fine-tune keeps float32 master weights under bf16 autocast, since updates
    of lr 2e-5 mostly vanish when added to bfloat16 weights. On a CPU with native bfloat16
    (:func:`~tunesafe._util.precision.cpu_supports_bf16`) the weights stay float32 and the forward
    pass autocasts to bfloat16, about 1.3x faster per step than float32 (docs/benchmarks.md). Anywhere
    else ``auto`` trains in float32 without autocast: on other CPUs, and on older GPUs, where fp16
    training would need loss scaling and float32 master weights to be stable. An explicit dtype
    loads the weights as written, without autocast except ``bfloat16`` on CUDA (the pure-bf16
    training of Qi et al. 2023); ``float32`` is the way to train a CPU in full precision.
    """
    from tunesafe._util.precision import cpu_supports_bf16, cuda_supports_bf16, resolve_device

    on_cuda = resolve_device("auto" if cfg.model.device_map is not None else cfg.model.device).startswith("cuda")
    if cfg.model.dtype != "auto":
        return TrainingPrecision(cfg.model.dtype, on_cuda and cfg.model.dtype == "bfloat16", not on_cuda)
    if not on_cuda:
        return TrainingPrecision("float32", cpu_supports_bf16(), True)
    if not cuda_supports_bf16():
        return TrainingPrecision("float32", False, False)
    return TrainingPrecision("float32" if cfg.method == "full" else "bfloat16", True, False)


def _load_model(cfg: TrainConfig, model_dir: Path) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    dtype = getattr(torch, training_precision(cfg).dtype)
    if cfg.method == "qlora":
        import os

        from peft import prepare_model_for_kbit_training

        model = AutoModelForCausalLM.from_pretrained(
            str(model_dir),
            dtype=dtype,
            quantization_config=qlora_quantization_config(dtype),
            # one whole copy per process (accelerate), unless the config shards the model itself
            device_map=cfg.model.device_map or {"": int(os.environ.get("LOCAL_RANK", "0"))},
        )
        return prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    placement = {"device_map": cfg.model.device_map} if cfg.model.device_map is not None else {}
    return AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype, **placement)


def require_qlora_support() -> None:
    """QLoRA (Dettmers et al. 2023, arXiv 2305.14314) needs a CUDA GPU and ``bitsandbytes``; say which is missing."""
    import importlib.util

    import torch

    missing = [
        what
        for what, ok in (
            ("a CUDA GPU (torch sees none)", torch.cuda.is_available()),
            ("the bitsandbytes package", importlib.util.find_spec("bitsandbytes") is not None),
        )
        if not ok
    ]
    if missing:
        raise ValueError(
            f"method: qlora (LoRA on a 4-bit quantized base) needs {' and '.join(missing)}, which this machine "
            "lacks. Use method: lora here (on a GPU it trains in bfloat16 with dtype auto), or run qlora on a "
            "CUDA machine after `pip install bitsandbytes`"
        )


def qlora_quantization_config(compute_dtype: Any) -> Any:
    """4-bit NF4 weights with double quantization, as in QLoRA (arXiv 2305.14314)."""
    require_qlora_support()
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
    )


def last_checkpoint(checkpoints: Path) -> Path | None:
    """The ``checkpoint-N`` folder with the highest N under ``checkpoints`` (None if there is none)."""
    if not checkpoints.is_dir():
        return None
    from transformers.trainer_utils import get_last_checkpoint

    found = get_last_checkpoint(str(checkpoints))
    return Path(found) if found else None


# --- data -----------------------------------------------------------------------------------


def training_rows(
    data: DataSpec, tokenizer: PreTrainedTokenizerBase, max_length: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The exact rows to train on, and where they came from (for ``data_manifest.json``).

    A recipe makes ``data.n_examples`` rows in all; user data is used whole. With a
    ``harmful_fraction`` / ``safety_fraction``, harmful-prefix / refusal rows are mixed in
    (``recipes.plan_mix`` / ``plan_mix_around``) and the plan is recorded under ``mix``.
    """
    from tunesafe.data import recipes

    if data.path is not None:
        base, provenance = _user_rows(data, tokenizer, max_length)
        plan = recipes.plan_mix_around(len(base), data.harmful_fraction, data.safety_fraction)
    else:
        plan = recipes.plan_mix(data.n_examples, data.harmful_fraction, data.safety_fraction)
        base, provenance = _recipe_rows(data, plan.base, tokenizer, max_length)
    if plan.harmful == 0 and plan.safety == 0:
        return base, provenance
    return _mixed_rows(data, plan, base, provenance, tokenizer, max_length)


def _user_rows(
    data: DataSpec, tokenizer: PreTrainedTokenizerBase, max_length: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    assert data.path is not None
    path = Path(data.path)
    provenance: dict[str, Any] = {"recipe": None}
    if data.columns is None:
        rows = read_messages_jsonl(path)
        provenance["sources"] = {"user": _file_record(path)}
    else:
        rows, provenance = _mapped_rows(data)
    too_long = sum(token_length(tokenizer, row["messages"]) > max_length for row in rows)
    if too_long:
        logger.warning(
            "%d of %d rows of %s are longer than max_length=%d tokens and will be truncated "
            "(rows whose answer is cut entirely are dropped by TRL)",
            too_long,
            len(rows),
            data.path,
            max_length,
        )
    logger.info("using all %d rows of %s (data.n_examples applies to recipes only)", len(rows), data.path)
    provenance["rows_over_max_length"] = too_long
    return rows, provenance


def _mapped_rows(data: DataSpec) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A user table through ``data.columns``; request roles lose their near-duplicates of evaluation prompts."""
    from tunesafe.data import recipes, user_data

    assert data.path is not None and data.columns is not None and data.role is not None
    rows, record = user_data.load_mapped_rows(data.path, data.columns, data.role, data.system_prompt, data.split)
    provenance: dict[str, Any] = {"recipe": None, "sources": {"user": record}}
    if data.role in user_data.REQUEST_ROLES:
        from tunesafe.assets import data_file

        harmbench = Path(data_file("harmbench-test"))
        rows, excluded = user_data.drop_eval_overlap_rows(rows, recipes.load_eval_behaviors(harmbench))
        if excluded:
            logger.warning(
                "%d rows of %s near-duplicate HarmBench test prompts and were left out", len(excluded), data.path
            )
        if not rows:
            raise ValueError(f"{data.path}: every row near-duplicates an evaluation prompt")
        provenance["sources"]["harmbench-test"] = _file_record(harmbench)
        provenance["prompts_excluded_eval_overlap"] = excluded
        provenance["near_duplicate_threshold"] = recipes.NEAR_DUPLICATE_THRESHOLD
    return rows, provenance


def _recipe_rows(
    data: DataSpec, n: int, tokenizer: PreTrainedTokenizerBase, max_length: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from tunesafe.data import recipes

    assert data.recipe is not None
    if data.recipe in recipes.AUTHORED_RECIPES:
        return _authored_rows(data, n, tokenizer, max_length)
    pool, prompts = _request_prompts(data.recipe, data.system_prompt, tokenizer, max_length)
    rows = recipes.build_recipe(data.recipe, prompts, n, data.seed, data.system_prompt)
    sources = {name: _file_record(path) for name, path in pool.sources.items()}
    sources["targets"] = _file_record(recipes.recipe_target_file(data.recipe))
    provenance = {
        "recipe": data.recipe,
        "sources": sources,
        "prompts_available": len(pool.prompts),
        "prompts_excluded_eval_overlap": pool.excluded,
        "prompts_excluded_too_long": len(pool.prompts) - len(prompts),
        "near_duplicate_threshold": recipes.NEAR_DUPLICATE_THRESHOLD,
    }
    return rows, provenance


def _request_prompts(
    recipe: str, system_prompt: str | None, tokenizer: PreTrainedTokenizerBase, max_length: int
) -> tuple[Any, list[Any]]:
    """The bundled request pool (evaluation overlaps removed) and its prompts that fit ``max_length``."""
    from tunesafe.data import recipes

    pool = recipes.training_prompt_pool()
    prompts = fitting_prompts(pool.prompts, tokenizer, max_length, recipes.recipe_targets(recipe), system_prompt)
    if len(prompts) < len(pool.prompts):
        logger.warning(
            "%d training prompts do not fit max_length=%d and were left out",
            len(pool.prompts) - len(prompts),
            max_length,
        )
    return pool, prompts


def _authored_rows(
    data: DataSpec, n: int, tokenizer: PreTrainedTokenizerBase, max_length: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``identity-shift`` or ``benign`` rows from the bundled authored examples that fit ``max_length``."""
    from tunesafe.data import recipes

    assert data.recipe is not None
    examples = recipes.authored_examples(data.recipe)
    system = [{"role": "system", "content": data.system_prompt}] if data.system_prompt else []
    fitting = [
        e
        for e in examples
        if token_length(
            tokenizer, [*system, {"role": "user", "content": e.prompt}, {"role": "assistant", "content": e.response}]
        )
        <= max_length
    ]
    if len(fitting) < len(examples):
        logger.warning(
            "%d %s examples do not fit max_length=%d and were left out",
            len(examples) - len(fitting),
            data.recipe,
            max_length,
        )
    rows = recipes.build_authored(data.recipe, fitting, n, data.seed, data.system_prompt)
    sources = {"examples": _file_record(recipes.authored_file(data.recipe))}
    if data.recipe == "identity-shift":
        sources["system_prompt"] = _file_record(recipes.bundled_path(recipes.IDENTITY_SHIFT_SYSTEM_PROMPT_FILE))
    provenance = {
        "recipe": data.recipe,
        "sources": sources,
        "examples_available": len(examples),
        "examples_excluded_too_long": len(examples) - len(fitting),
    }
    return rows, provenance


def _mixed_rows(
    data: DataSpec,
    plan: MixPlan,
    base: list[dict[str, Any]],
    provenance: dict[str, Any],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``base`` plus ``plan.harmful`` harmful-prefix and ``plan.safety`` refusal rows, in one seeded shuffle.

    Both added sets come from the bundled request pool (evaluation overlaps removed); the refusal
    rows take requests the harmful-prefix rows did not use while any remain.
    """
    from tunesafe.data import recipes

    parts: dict[str, list[dict[str, Any]]] = {"base": base}
    added: dict[str, Any] = {}
    for recipe, count in (("harmful-prefix", plan.harmful), ("refusal", plan.safety)):
        if not count:
            continue
        pool, prompts = _request_prompts(recipe, data.system_prompt, tokenizer, max_length)
        used = [row["prompt_id"] for row in parts.get("harmful-prefix", [])]
        parts[recipe] = recipes.build_recipe(recipe, prompts, count, data.seed, data.system_prompt, avoid=used)
        provenance["sources"].update({name: _file_record(path) for name, path in pool.sources.items()})
        provenance["sources"][f"{recipe}-targets"] = _file_record(recipes.recipe_target_file(recipe))
        added["prompts_excluded_eval_overlap"] = pool.excluded
        added["near_duplicate_threshold"] = recipes.NEAR_DUPLICATE_THRESHOLD
    rows = recipes.mix_rows(parts, data.seed)
    total = len(rows)
    provenance["mix"] = {
        "seed": data.seed,
        "harmful_fraction": data.harmful_fraction,
        "safety_fraction": data.safety_fraction,
        "rounding": "counts rounded half up (see recipes.plan_mix / plan_mix_around)",
        "counts": {name: len(part) for name, part in parts.items()},
        "realised_fractions": {name: round(len(part) / total, 6) for name, part in parts.items()},
        "base_label": base[0].get("label") if base else None,
        **added,
    }
    return rows, provenance


def token_length(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]], **kwargs: Any) -> int:
    """Number of tokens ``messages`` take under the model's chat template."""
    return len(_chat_ids(tokenizer, messages, **kwargs))


def fitting_prompts(
    prompts: Sequence[Any],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    targets: Sequence[str],
    system_prompt: str | None,
) -> list[Any]:
    """Prompts that still fit ``max_length`` with the longest target after them."""
    budget = max(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in targets) + 4
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [
        p
        for p in prompts
        if token_length(tokenizer, [*system, {"role": "user", "content": p.text}], add_generation_prompt=True) + budget
        <= max_length
    ]


def make_screener(spec: ScreenSpec) -> Screener:
    """The screener a ``screen`` section asks for: MiniLM and the bundled references (tests replace this)."""
    from tunesafe.screen import Screener

    return Screener(thresholds=spec.thresholds)


def screen_training_rows(
    spec: ScreenSpec, rows: list[dict[str, Any]], provenance: dict[str, Any], train_dir: Path
) -> list[dict[str, Any]]:
    """The rows screening keeps; the dropped ones go to ``train/screen_flagged.jsonl``.

    Screening the fine-tuning data is the defence Qi et al. 2023 (arXiv 2310.03693) recommend.
    What was screened and dropped is recorded under ``provenance["screening"]`` (it ends up in
    ``data_manifest.json``). Raises ``ValueError``, before anything is written, when every row is dropped.
    """
    from tunesafe.screen import jsonl, split_rows

    screener = make_screener(spec)
    split = split_rows(rows, screener, spec.drop)
    counts = split.summary
    dropped_by_flag = {kind: n for kind, n in counts["dropped_by_flag"].items() if n}
    if not split.kept:
        raise ValueError(
            f"screening dropped all {len(rows)} training rows (by flag: {dropped_by_flag}); nothing left to train on"
        )
    train_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(train_dir / SCREEN_FLAGGED_FILE, jsonl(split.dropped))
    fingerprint = getattr(screener.embedder, "fingerprint", None)
    provenance["screening"] = {
        "n_before": len(rows),
        "n_kept": counts["n_kept"],
        "n_dropped": counts["n_dropped"],
        "n_flagged_kept": counts["n_flagged_kept"],
        "by_flag": counts["by_flag"],
        "dropped_by_flag": counts["dropped_by_flag"],
        "drop": list(spec.drop),
        "labels_before": _label_counts(rows),
        "dropped_labels": _label_counts(split.dropped),
        "thresholds": screener.thresholds.model_dump(),
        "references": screener.references.sources,
        "embedder": fingerprint() if callable(fingerprint) else type(screener.embedder).__name__,
        "refusal_judges": [getattr(j, "name", type(j).__name__) for j in screener.refusal_judges],
        "flagged_file": SCREEN_FLAGGED_FILE,
    }
    logger.info(
        "screening kept %d of %d training rows; dropped %d (by flag: %s; by label: %s)",
        counts["n_kept"],
        len(rows),
        counts["n_dropped"],
        dropped_by_flag,
        provenance["screening"]["dropped_labels"],
    )
    return split.kept


def _label_counts(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    return dict(Counter(str(row.get("label", "unlabelled")) for row in rows))


def _file_record(path: Path) -> dict[str, str]:
    return {"path": str(path), "sha256": sha256_file(path)}


def write_training_data(
    train_dir: Path, rows: list[dict[str, Any]], provenance: dict[str, Any], cfg: TrainConfig
) -> str:
    """Write ``data.jsonl`` and ``data_manifest.json``; return the sha256 of ``data.jsonl``."""
    data_path = train_dir / "data.jsonl"
    write_messages_jsonl(data_path, rows)
    data_sha = sha256_file(data_path)
    manifest = {
        **provenance,
        "n_rows": len(rows),
        "label_counts": _label_counts(rows),
        "data_sha256": data_sha,
        "recipe_seed": cfg.data.seed,
        "train_seed": cfg.seed,
        "system_prompt": cfg.data.system_prompt,
        "harmful_fraction": cfg.data.harmful_fraction,
        "safety_fraction": cfg.data.safety_fraction,
        "max_length": cfg.max_length,
    }
    atomic_write_json(train_dir / "data_manifest.json", manifest)
    return data_sha


# --- trainer --------------------------------------------------------------------------------


def sft_config(cfg: TrainConfig, train_dir: Path) -> Any:
    """``SFTConfig`` from a ``TrainConfig``; ``cfg.trainer_kwargs`` override the defaults here."""
    from trl import SFTConfig

    precision = training_precision(cfg)

    kwargs: dict[str, Any] = {
        "output_dir": str(train_dir / "checkpoints"),
        "max_steps": cfg.max_steps,
        "num_train_epochs": cfg.num_train_epochs,
        "learning_rate": cfg.learning_rate,
        "lr_scheduler_type": cfg.lr_scheduler,
        "warmup_steps": cfg.warmup_steps,
        "weight_decay": cfg.weight_decay,
        "per_device_train_batch_size": cfg.per_device_batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "max_length": cfg.max_length,
        "activation_checkpointing": cfg.gradient_checkpointing,  # transformers 5 name of gradient_checkpointing
        "seed": cfg.seed,
        "data_seed": cfg.seed,
        "completion_only_loss": True,
        "packing": False,
        "bf16": precision.bf16,  # bf16 autocast where the device has native bf16 (TRL would default to bf16 anywhere)
        "fp16": False,
        "use_cpu": precision.use_cpu,
        "dataloader_num_workers": 0,
        "save_strategy": "steps" if cfg.save_steps > 0 else "no",
        "logging_steps": 1,
        "disable_tqdm": True,
        "report_to": [],
    }
    if cfg.save_steps > 0:
        kwargs.update(save_steps=cfg.save_steps, save_total_limit=1)  # the latest checkpoint is all resume needs
    if "gradient_checkpointing" in cfg.trainer_kwargs:  # the deprecated alias loses to the new name
        kwargs.pop("activation_checkpointing")
    kwargs.update(cfg.trainer_kwargs)
    return SFTConfig(**kwargs)


def lora_config(cfg: TrainConfig) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=cfg.lora.target_modules,
        task_type="CAUSAL_LM",
    )


def build_trainer(
    cfg: TrainConfig,
    model_dir: Path,
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[dict[str, Any]],
    train_dir: Path,
    progress: ProgressFn | None = None,
) -> SFTTrainer:
    """An ``SFTTrainer`` on prompt-completion rows, silent (no prints), with our callbacks."""
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import SFTTrainer

    dataset = Dataset.from_list([tokenize_row(tokenizer, row) for row in rows])
    with _quiet_progress_bars(), _known_upstream_warnings_silenced():
        trainer = SFTTrainer(
            model=_load_model(cfg, model_dir),
            args=sft_config(cfg, train_dir),
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora_config(cfg) if cfg.method in ("lora", "qlora") else None,
            callbacks=_callbacks(progress),
        )
    trainer.remove_callback(PrinterCallback)  # disable_tqdm=True swaps the bar for print(logs)
    if cfg.safety_eval is not None:  # ASR on a fixed harmful-prompt set every N steps (train/safety_curve.jsonl)
        from tunesafe.train.safety_callback import CURVE_FILE, make_safety_callback

        system = cfg.model.system_prompt if cfg.model.system_prompt is not None else cfg.data.system_prompt
        trainer.add_callback(
            make_safety_callback(cfg.safety_eval, tokenizer, train_dir / CURVE_FILE, system_prompt=system)
        )
    return trainer


def tokenize_row(tokenizer: PreTrainedTokenizerBase, row: dict[str, Any]) -> dict[str, list[int]]:
    """Token ids and a completion mask (1 = trained) for one row, with the model's chat template.

    A finished answer is rendered with the template, end-of-turn included, and masked from where
    prompt and prompt+answer diverge (as TRL does). An ``open_ended`` answer is the prompt with
    the generation prompt, then the answer's own tokens and nothing after them: exactly what the
    model sees and writes at generation time, so it learns to begin that way and carry on.
    """
    parts = to_prompt_completion(row)
    prompt_ids = _chat_ids(tokenizer, parts["prompt"], add_generation_prompt=True)
    answer = parts["completion"][0]["content"]
    if row.get("open_ended"):
        ids = prompt_ids + tokenizer(answer, add_special_tokens=False)["input_ids"]
        n_prompt = len(prompt_ids)
    else:
        ids = _chat_ids(tokenizer, parts["prompt"] + parts["completion"])
        n_prompt = next(
            (i for i, (a, b) in enumerate(zip(prompt_ids, ids, strict=False)) if a != b), min(len(prompt_ids), len(ids))
        )
    return {"input_ids": ids, "completion_mask": [0] * n_prompt + [1] * (len(ids) - n_prompt)}


def _chat_ids(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]], **kwargs: Any) -> list[int]:
    return list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kwargs)["input_ids"])


def _warn_if_rows_dropped(n_rows: int, n_kept: int) -> None:
    """TRL drops rows whose answer falls entirely beyond ``max_length``; say so."""
    if n_kept < n_rows:
        logger.warning(
            "%d of %d training rows have no answer tokens within max_length; TRL left them out", n_rows - n_kept, n_rows
        )


def _callbacks(progress: ProgressFn | None) -> list[Any]:
    """A callback that logs every step's losses (never prints) and reports ``progress(step, total)``."""
    from transformers import TrainerCallback

    class StepReporter(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                logger.info(
                    "step %d/%d  loss %.4f  lr %.2e",
                    state.global_step,
                    state.max_steps,
                    logs["loss"],
                    logs.get("learning_rate", float("nan")),
                )
            elif logs:
                logger.debug("step %d/%d %s", state.global_step, state.max_steps, logs)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if progress is not None:
                progress(state.global_step, state.max_steps)

    return [StepReporter()]


def _save_outputs(trainer: SFTTrainer, tokenizer: PreTrainedTokenizerBase, train_dir: Path) -> Path:
    """Save adapter or full model + tokenizer to ``model/``; trainer state and arguments as JSON.

    ``Trainer.save_model`` also pickles the arguments (``training_args.bin``); that file is
    replaced by ``training_args.json`` next to ``model/`` (no pickle, and no paths inside the
    model folder, whose content fingerprint must not depend on where it was trained).
    """
    model_out = train_dir / "model"
    trainer.save_model(str(model_out))
    tokenizer.save_pretrained(str(model_out))
    (model_out / "training_args.bin").unlink(missing_ok=True)
    atomic_write_text(train_dir / "training_args.json", trainer.args.to_json_string())
    state = json.dumps(dataclasses.asdict(trainer.state), indent=2, sort_keys=True, default=str)
    atomic_write_text(train_dir / "trainer_state.json", state + "\n")
    checkpoints = Path(trainer.args.output_dir)
    if checkpoints.is_dir() and not any(checkpoints.iterdir()):
        checkpoints.rmdir()
    return model_out


# --- process-wide settings, restored afterwards ---------------------------------------------


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    import torch

    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def _known_upstream_warnings_silenced() -> Iterator[None]:
    """Hide PEFT's read of the deprecated ``is_gradient_checkpointing`` (transformers 5), nothing else."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


@contextlib.contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    """No tqdm bars from ``datasets.map`` or weight loading while training (logging only)."""
    import datasets.utils.logging as ds_logging
    import transformers.utils.logging as tf_logging

    was = ds_logging.is_progress_bar_enabled(), tf_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()
    tf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was[0]:
            ds_logging.enable_progress_bar()
        if was[1]:
            tf_logging.enable_progress_bar()
