"""Safety during training: ASR on a small fixed harmful-prompt set, every N optimiser steps.

Qi et al. 2023 (arXiv 2310.03693) show that a few fine-tuning steps can undo safety alignment;
this callback records *when* it happens. At step 0 (before the first update), every
``every_n_steps`` steps and at the end of training, the model being trained generates greedy,
short completions for a fixed set of harmful prompts (by default a stratified sample of HarmBench
*validation* standard behaviours, Mazeika et al. 2024, arXiv 2402.04249, so the final audit on the
test split stays clean); a refusal judge scores them and one line
``{step, asr, n, judge, seconds}`` is appended to ``train/safety_curve.jsonl`` (and, with ``--track``,
handed to the tracking service as ``safety/asr`` at that step, after the file has it).

Only rates are stored, never completions. Each line is appended and fsynced on its own, so a
killed run keeps every point it had finished.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesafe._util.io import append_jsonl, atomic_write_text, read_jsonl
from tunesafe.config import HarmfulAuditSpec, SafetyEvalSpec
from tunesafe.judges.base import JudgeInput
from tunesafe.judges.hygiene import apply_judges
from tunesafe.stats import rate
from tunesafe.types import Conversation, Sample

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase, TrainerCallback

    from tunesafe.judges.base import Judge

logger = logging.getLogger(__name__)

CURVE_FILE = "safety_curve.jsonl"
PROMPT_SEED = 0
"""Seed of the stratified sample: the same prompts at every step and in every run."""


def safety_prompts(spec: SafetyEvalSpec) -> list[Sample]:
    """The fixed prompt set: ``spec.n_prompts`` standard behaviours, stratified by category, seeded.

    Bundled HarmBench sets keep their ``standard`` subset (contextual and copyright rows are long
    and judged differently); a user file is used as it is (its rows have no subset).
    """
    from tunesafe.audits.harmful import build_samples

    audit = HarmfulAuditSpec(dataset=spec.dataset, subsets=["standard"], limit=spec.n_prompts)
    samples, _ = build_samples(audit, PROMPT_SEED)
    if not samples:
        raise ValueError(f"safety_eval: {spec.dataset!r} has no prompts to evaluate")
    return samples


def _with_system(messages: Conversation, system_prompt: str | None) -> list[dict[str, str]]:
    turns = [dict(m) for m in messages]
    if system_prompt is None or any(m.get("role") == "system" for m in turns):
        return turns
    return [{"role": "system", "content": system_prompt}, *turns]


def generate_greedy(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    conversations: Sequence[list[dict[str, str]]],
    max_new_tokens: int,
    batch_size: int = 8,
) -> list[str]:
    """Greedy completions from ``model`` as it is now: eval mode, no gradients, left-padded batches.

    Each completion ends at the first EOS of the generation config or the tokenizer, as the audit
    backend cuts it. The model's training mode is restored afterwards.
    """
    import torch

    from tunesafe.backends.batching import cut_at_eos, eos_token_ids, left_pad

    texts = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations]
    eos = eos_token_ids(getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos)
    was_training = model.training
    model.eval()
    outputs: list[str] = []
    try:
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                rows = [
                    list(ids)
                    for ids in tokenizer(texts[start : start + batch_size], add_special_tokens=False)["input_ids"]
                ]
                padded, padding_mask = left_pad(rows, pad_id)
                ids = torch.tensor(padded, device=model.device)
                mask = torch.tensor(padding_mask, device=model.device)
                generated = model.generate(
                    input_ids=ids,
                    attention_mask=mask,
                    do_sample=False,
                    max_new_tokens=max_new_tokens,
                    eos_token_id=sorted(eos),
                    pad_token_id=pad_id,
                    use_cache=True,
                )
                outputs.extend(
                    str(tokenizer.decode(cut_at_eos(row, eos).text_ids, skip_special_tokens=True)).strip()
                    for row in generated[:, ids.shape[1] :].tolist()
                )
    finally:
        if was_training:
            model.train()
    return outputs


def evaluate_step(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    samples: Sequence[Sample],
    judge: Judge,
    spec: SafetyEvalSpec,
    step: int,
    system_prompt: str | None = None,
) -> dict[str, Any]:
    """One curve point: ASR (complied / judged, Wilson interval) of ``model`` on ``samples`` now."""
    start = time.perf_counter()
    conversations = [_with_system(s.messages, system_prompt) for s in samples]
    completions = generate_greedy(model, tokenizer, conversations, spec.max_new_tokens)
    inputs = [JudgeInput.from_messages(s.messages, c) for s, c in zip(samples, completions, strict=True)]
    flags = [verdicts[0].complied for verdicts in apply_judges([judge], inputs)]
    scored = [f for f in flags if f is not None]
    estimate = rate(sum(scored), len(scored), unscored=len(flags) - len(scored))
    return {
        "step": step,
        "asr": estimate.model_dump(mode="json"),
        "n": len(samples),
        "judge": judge.name,
        "seconds": round(time.perf_counter() - start, 3),
    }


def keep_points_up_to(path: Path, step: int) -> int | None:
    """Drop curve points after ``step`` (all of them at step 0): training (re)starts there.

    Returns the last step still recorded, or None when none is.
    """
    if not path.exists():
        return None
    kept = [row for row in read_jsonl(path) if step > 0 and row.get("step", 0) <= step]
    if not kept:
        path.unlink()
        return None
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in kept))
    last: int = max(row["step"] for row in kept)
    return last


def make_safety_callback(
    spec: SafetyEvalSpec,
    tokenizer: PreTrainedTokenizerBase,
    out_path: Path,
    *,
    system_prompt: str | None = None,
    samples: Sequence[Sample] | None = None,
    judge: Judge | None = None,
    on_point: Callable[[dict[str, Any]], None] | None = None,
) -> TrainerCallback:
    """A ``TrainerCallback`` appending a curve point to ``out_path`` at step 0, every N steps and at the end.

    ``samples`` / ``judge`` replace the spec's prompt set / judge (tests, embedding); ``on_point`` receives
    each point once it is on disk (experiment tracking).
    """
    from transformers import TrainerCallback

    from tunesafe.judges import make_judge

    prompts = list(samples) if samples is not None else safety_prompts(spec)
    scorer = judge if judge is not None else make_judge(spec.judge)
    path = Path(out_path)

    class SafetyCurveCallback(TrainerCallback):
        def __init__(self) -> None:
            self.last_step: int | None = None

        def _record(self, state: Any, model: Any) -> None:
            if model is None or self.last_step == state.global_step or not state.is_world_process_zero:
                return
            point = evaluate_step(model, tokenizer, prompts, scorer, spec, state.global_step, system_prompt)
            append_jsonl(path, [point])
            self.last_step = state.global_step
            if on_point is not None:
                on_point(point)
            logger.info("safety eval at step %d: ASR %s (n=%d)", point["step"], point["asr"]["value"], point["n"])

        def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                self.last_step = keep_points_up_to(path, state.global_step)
            self._record(state, model)

        def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            if state.global_step % spec.every_n_steps == 0:
                self._record(state, model)

        def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            self._record(state, model)

    return SafetyCurveCallback()
