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
from collections.abc import Callable, Iterator, Sequence, Sized
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from pydantic import BaseModel

from tunesafe._util.io import atomic_write_text
from tunesafe.config import TrainConfig
from tunesafe.data.formats import to_prompt_completion
from tunesafe.data.training_set import chat_ids, screen_training_rows, training_rows, write_training_data
from tunesafe.train.checkpoints import finished_at, last_checkpoint

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase
    from trl import SFTTrainer  # type: ignore[attr-defined]  # trl re-exports lazily

    from tunesafe.tracking import TrackingSession

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]


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
    cfg: TrainConfig,
    out_dir: Path,
    progress: ProgressFn | None = None,
    *,
    resume: bool = True,
    tracking: TrackingSession | None = None,
) -> TrainResult:
    """Fine-tune ``cfg.model`` on ``cfg.data`` and write everything under ``out_dir/train``.

    A recipe builds ``cfg.data.n_examples`` rows; a user JSONL file (``cfg.data.path``) is used
    whole (``n_examples`` is ignored). ``progress(step, total)`` is called after every
    optimiser step. With ``resume`` (the default), training continues from the latest
    ``train/checkpoints/checkpoint-N`` if there is one; the caller makes sure it was written by
    this same config (``finetune_run`` does, through the config hash). With ``cfg.screen``, the
    rows are screened first and only the rows it keeps are trained on (:func:`screen_training_rows`).
    With ``tracking`` (an open tracked run), the trainer reports its curves there (TRL's ``report_to``)
    and each safety-during-training point is logged at its step.
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
        trainer = build_trainer(cfg, model_dir, tokenizer, rows, train_dir, progress, tracking=tracking)
        _warn_if_rows_dropped(len(rows), len(cast("Sized", trainer.train_dataset)))
        checkpoint = last_checkpoint(train_dir / "checkpoints") if resume else None
        start = time.perf_counter()
        if checkpoint is not None and finished_at(trainer, checkpoint):
            logger.info("the fine-tune had finished at %s; saving its outputs", checkpoint)
        else:
            if checkpoint is not None:
                logger.info("resuming the fine-tune from %s", checkpoint)
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
    from tunesafe.models import resolve_model_source

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
        return prepare_model_for_kbit_training(  # type: ignore[no-untyped-call]
            model, use_gradient_checkpointing=cfg.gradient_checkpointing
        )
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

    return BitsAndBytesConfig(  # type: ignore[no-untyped-call]
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
    )


# --- trainer --------------------------------------------------------------------------------


def sft_config(cfg: TrainConfig, train_dir: Path, report_to: Sequence[str] = ()) -> Any:
    """``SFTConfig`` from a ``TrainConfig``; ``cfg.trainer_kwargs`` override the defaults here.

    ``report_to`` names the tracking services the trainer logs its curves to (``--track``; none by default).
    """
    from trl import SFTConfig  # type: ignore[attr-defined]  # trl re-exports lazily

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
        "report_to": list(report_to),
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
    *,
    tracking: TrackingSession | None = None,
) -> SFTTrainer:
    """An ``SFTTrainer`` on prompt-completion rows, silent (no prints), with our callbacks; with ``tracking``,
    reporting to its service (into its open run) and logging the safety curve there."""
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import SFTTrainer  # type: ignore[attr-defined]  # trl re-exports lazily

    dataset = Dataset.from_list([tokenize_row(tokenizer, row) for row in rows])
    with _quiet_progress_bars(), _known_upstream_warnings_silenced():
        trainer = SFTTrainer(
            model=_load_model(cfg, model_dir),
            args=sft_config(cfg, train_dir, tracking.report_to if tracking is not None else ()),
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora_config(cfg) if cfg.method in ("lora", "qlora") else None,
            callbacks=_callbacks(progress),
        )
    trainer.remove_callback(PrinterCallback)  # disable_tqdm=True swaps the bar for print(logs)
    if cfg.safety_eval is not None:  # ASR on a fixed harmful-prompt set every N steps (train/safety_curve.jsonl)
        from tunesafe.train.safety_callback import CURVE_FILE, make_safety_callback

        system = cfg.model.system_prompt if cfg.model.system_prompt is not None else cfg.data.system_prompt
        on_point = tracking.log_safety_point if tracking is not None and tracking.enabled else None
        trainer.add_callback(
            make_safety_callback(
                cfg.safety_eval, tokenizer, train_dir / CURVE_FILE, system_prompt=system, on_point=on_point
            )
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
    prompt_ids = chat_ids(tokenizer, parts["prompt"], add_generation_prompt=True)
    answer = parts["completion"][0]["content"]
    if row.get("open_ended"):
        ids = prompt_ids + tokenizer(answer, add_special_tokens=False)["input_ids"]
        n_prompt = len(prompt_ids)
    else:
        ids = chat_ids(tokenizer, parts["prompt"] + parts["completion"])
        n_prompt = next(
            (i for i, (a, b) in enumerate(zip(prompt_ids, ids, strict=False)) if a != b), min(len(prompt_ids), len(ids))
        )
    return {"input_ids": ids, "completion_mask": [0] * n_prompt + [1] * (len(ids) - n_prompt)}


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
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
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
    atomic_write_text(train_dir / "training_args.json", trainer.args.to_json_string())  # type: ignore[no-untyped-call]
    state = json.dumps(dataclasses.asdict(trainer.state), indent=2, sort_keys=True, default=str)
    atomic_write_text(train_dir / "trainer_state.json", state + "\n")
    checkpoints = Path(cast(str, trainer.args.output_dir))
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
    tf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if was[0]:
            ds_logging.enable_progress_bar()
        if was[1]:
            tf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
