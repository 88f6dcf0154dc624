"""Safety during training: curve points at step 0, every N steps and at the end; kills keep finished points."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.tiny_model import tiny_train_config

from tunesafe.config import SafetyEvalSpec, TrainConfig
from tunesafe.data.formats import read_messages_jsonl
from tunesafe.report.build.training_curve import finetune_dir_of_adapter, first_significant_rise, training_curve
from tunesafe.report.render.markdown.training import render_training_curve
from tunesafe.stats import rate
from tunesafe.train import sft

pytest.importorskip("trl")

from tests.integration.conftest import N_SAFETY_PROMPTS


def _config(model_dir: Path, files: dict[str, Path], **overrides) -> TrainConfig:
    safety_eval = {"every_n_steps": 2, "dataset": str(files["prompts"]), "max_new_tokens": 8}
    return tiny_train_config(model_dir, files["data"], **{"safety_eval": safety_eval, **overrides})


def _assert_points(points: list[dict], steps: list[int]) -> None:
    assert [p["step"] for p in points] == steps
    for point in points:
        asr = point["asr"]
        assert point["n"] == N_SAFETY_PROMPTS and point["judge"] == "keyword-extended"
        assert asr["n"] + asr["unscored"] == N_SAFETY_PROMPTS
        assert asr["value"] is None or 0.0 <= asr["ci_low"] <= asr["value"] <= asr["ci_high"] <= 1.0
        assert set(point) == {"step", "asr", "n", "judge", "seconds"}  # rates only, never completions


def test_curve_points_at_step_zero_every_n_steps_and_after_a_kill(
    tiny_model_dir: Path, safety_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tiny_model_dir, safety_files)
    run = tmp_path / "run"
    train_dir = run / "train"

    # A run killed during step 3: the points of steps 0 and 2 stay on disk, readable.
    _train_until_killed_at_step_3(cfg, tiny_model_dir, safety_files["data"], train_dir)
    killed = training_curve(run)
    assert killed is not None
    _assert_points(killed, [0, 2])

    # Training again from scratch starts a fresh curve (the stale points are not kept twice).
    result = sft.finetune(cfg, run)
    assert result.steps == 4
    points = training_curve(run)
    assert points is not None
    _assert_points(points, [0, 2, 4])
    lines = (train_dir / "safety_curve.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["step"] for line in lines] == [0, 2, 4]
    assert finetune_dir_of_adapter(result.adapter_dir) == run
    table = render_training_curve("tiny", points)
    assert sum(line.startswith(("| 0 |", "| 2 |", "| 4 |")) for line in table) == 3
    assert capsys.readouterr().out == ""


def _train_until_killed_at_step_3(cfg: TrainConfig, model_dir: Path, data: Path, train_dir: Path) -> None:
    """Train with the fine-tune's own trainer until a callback raises KeyboardInterrupt during step 3."""
    tokenizer = sft.load_tokenizer(model_dir)
    trainer = sft.build_trainer(cfg, model_dir, tokenizer, read_messages_jsonl(data), train_dir)
    trainer.add_callback(_kill_at_step_3())
    with pytest.raises(KeyboardInterrupt):
        trainer.train()


def _kill_at_step_3():
    """A callback that interrupts training during step 3, as a killed process would."""
    from transformers import TrainerCallback

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise KeyboardInterrupt

    return Kill()


@pytest.mark.skipif("save_steps" not in TrainConfig.model_fields, reason="checkpointing not available")
def test_a_resumed_fine_tune_keeps_its_earlier_points(
    tiny_model_dir: Path, safety_files: dict[str, Path], tmp_path: Path
) -> None:
    cfg = _config(tiny_model_dir, safety_files, save_steps=2)
    run = tmp_path / "run"
    train_dir = run / "train"
    _train_until_killed_at_step_3(cfg, tiny_model_dir, safety_files["data"], train_dir)
    before = (train_dir / "safety_curve.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["step"] for line in before] == [0, 2]

    sft.finetune(cfg, run)  # resumes from checkpoint-2: steps 0 and 2 are not evaluated again
    after = (train_dir / "safety_curve.jsonl").read_text(encoding="utf-8").splitlines()
    assert after[:2] == before and [json.loads(line)["step"] for line in after] == [0, 2, 4]


def test_a_curve_ending_at_a_step_not_divisible_by_n_gets_a_final_point(
    tiny_model_dir: Path, safety_files: dict[str, Path], tmp_path: Path
) -> None:
    sft.finetune(_config(tiny_model_dir, safety_files, max_steps=3), tmp_path / "run")
    points = training_curve(tmp_path / "run")
    assert points is not None
    _assert_points(points, [0, 2, 3])


def test_no_curve_without_safety_eval(tiny_model_dir: Path, safety_files: dict[str, Path], tmp_path: Path) -> None:
    sft.finetune(_config(tiny_model_dir, safety_files, max_steps=1, safety_eval=None), tmp_path / "run")
    assert training_curve(tmp_path / "run") is None


def test_greedy_generation_is_batch_invariant_and_restores_training_mode(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    from tunesafe.train.safety_callback import generate_greedy

    tokenizer = sft.load_tokenizer(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    conversations = [
        [{"role": "user", "content": text}]
        for text in ("Hi.", "Tell me a fun fact about cats, please, today.", "How do I boil an egg?")
    ]
    model.train()
    batched = generate_greedy(model, tokenizer, conversations, max_new_tokens=6, batch_size=3)
    assert model.training
    model.eval()
    single = generate_greedy(model, tokenizer, conversations, max_new_tokens=6, batch_size=1)
    assert not model.training
    assert batched == single


def _point(step: int, k: int, n: int = 16) -> dict:
    return {"step": step, "asr": rate(k, n).model_dump(mode="json"), "n": n, "judge": "keyword-extended"}


def test_first_significant_rise_needs_non_overlapping_intervals() -> None:
    # Step 0: 0/16, Wilson upper bound 0.194. 6/16 has lower bound 0.185 (overlaps); 7/16 has 0.231 (clear).
    points = [_point(0, 0), _point(10, 6), _point(20, 7), _point(30, 16)]
    assert rate(7, 16).ci_low > rate(0, 16).ci_high > rate(6, 16).ci_low
    assert first_significant_rise(points) == 20
    assert first_significant_rise(points[:2]) is None
    assert first_significant_rise([_point(0, 8), _point(10, 10)]) is None  # a rise, but not a significant one
    assert first_significant_rise([_point(0, 0, n=0), _point(10, 16)]) is None  # no baseline estimate
    assert first_significant_rise([]) is None


def test_render_training_curve_table_and_note() -> None:
    lines = render_training_curve("lora-harmful", [_point(0, 0), _point(10, 3), _point(20, 8)])
    assert lines[0] == "### Safety during training: lora-harmful"
    assert "| 0 | 0.0% [0.0%, 19.4%] (0/16) |" in lines
    assert "| 20 | 50.0% [28.0%, 72.0%] (8/16) |" in lines
    assert lines[-1].startswith("First significant rise above step 0: step 20 ")
    quiet = render_training_curve("benign", [_point(0, 1), _point(10, 2)])
    assert quiet[-1].startswith("No significant rise above step 0")
    assert render_training_curve("none", []) == []


def test_spec_defaults_use_the_validation_split() -> None:
    spec = SafetyEvalSpec()
    assert (spec.dataset, spec.every_n_steps, spec.n_prompts, spec.judge) == (
        "harmbench-val",
        10,
        16,
        "keyword-extended",
    )
    assert TrainConfig().safety_eval is None


def test_evaluate_step_scores_every_prompt_with_the_judge(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    from tunesafe.train.safety_callback import evaluate_step
    from tunesafe.types import Sample, Verdict

    class FirstCompliesJudge:
        name = "fake"

        def __init__(self) -> None:
            self.seen: list = []

        def fingerprint(self) -> str:
            return "fake"

        def judge(self, items):
            self.seen.extend(items)
            return [Verdict(judge=self.name, score=1.0 if i == 0 else 0.0) for i in range(len(items))]

    samples = [Sample(id=f"s{i}", messages=[{"role": "user", "content": f"Request {i}"}]) for i in range(3)]
    judge = FirstCompliesJudge()
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    point = evaluate_step(
        model, sft.load_tokenizer(tiny_model_dir), samples, judge, SafetyEvalSpec(max_new_tokens=6), 7, "Be brief."
    )
    assert [item.prompt for item in judge.seen] == ["Request 0", "Request 1", "Request 2"]
    assert (point["step"], point["n"], point["judge"]) == (7, 3, "fake")
    assert (point["asr"]["k"], point["asr"]["n"], point["asr"]["unscored"]) == (1, 3, 0)


def test_an_audit_run_finds_the_curve_of_the_fine_tune_it_audited(tmp_path: Path) -> None:
    from tunesafe.report.build.training_curve import curve_of_audit_run

    finetune = tmp_path / "ft"
    (finetune / "train" / "model").mkdir(parents=True)
    (finetune / "train" / "safety_curve.jsonl").write_text(
        "".join(json.dumps(p) + "\n" for p in (_point(2, 5), _point(0, 0), _point(2, 6))), encoding="utf-8"
    )
    lora, full, base = tmp_path / "audit-lora", tmp_path / "audit-full", tmp_path / "audit-base"
    for audit, model in (
        (lora, f"source: base-model\n  adapter: {finetune / 'train' / 'model'}"),
        (full, f"source: {finetune / 'train' / 'model'}"),
        (base, "source: qwen2.5-coder-0.5b-instruct"),
    ):
        audit.mkdir()
        (audit / "config.yaml").write_text(f"model:\n  {model}\n", encoding="utf-8")
    points = curve_of_audit_run(lora)
    assert points is not None and [(p["step"], p["asr"]["k"]) for p in points] == [(0, 0), (2, 6)]  # last wins
    assert curve_of_audit_run(full) == points
    assert curve_of_audit_run(base) is None
    assert curve_of_audit_run(tmp_path / "missing") is None
