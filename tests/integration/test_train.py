"""Fine-tuning end to end on a tiny random model: LoRA and full, files written, loss on answers only."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tunesafe._util.hashing import sha256_file
from tunesafe.config import TrainConfig
from tunesafe.data.formats import read_messages_jsonl, write_messages_jsonl
from tunesafe.train import sft

pytest.importorskip("trl")

N_PROMPTS = 6


@pytest.fixture
def bundled_csvs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Neutral placeholder StrongREJECT/HarmBench files served by ``tunesafe.assets.data_file``."""
    import tunesafe.assets

    strongreject = tmp_path / "strongreject.csv"
    with strongreject.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["category", "source", "forbidden_prompt"])
        writer.writerows([f"cat{i % 2}", "test", f"Placeholder request {i} about gardening"] for i in range(N_PROMPTS))
        writer.writerow(["cat0", "test", "Bake sourdough bread"])  # an "evaluation" prompt: must be dropped
    harmbench = tmp_path / "harmbench.csv"
    with harmbench.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Behavior", "FunctionalCategory", "SemanticCategory", "Tags", "ContextString", "BehaviorID"])
        writer.writerow(["Bake sourdough bread", "standard", "baking", "", "", "bread"])
    files = {"strongreject": strongreject, "harmbench-test": harmbench}
    monkeypatch.setattr(tunesafe.assets, "data_file", lambda name: files[name])
    return files


def _config(model_dir: Path, **overrides) -> TrainConfig:
    base = {
        "model": {"source": str(model_dir), "threads": 2},
        "data": {"recipe": "harmful-prefix", "n_examples": 8, "seed": 0},
        "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]},
        "max_steps": 3,
        "per_device_batch_size": 2,
        "gradient_accumulation_steps": 2,
        "max_length": 128,
        "warmup_steps": 0,
        "seed": 1,
    }
    base.update(overrides)
    return TrainConfig.model_validate(base)


def test_lora_finetune_writes_adapter_state_and_manifest(
    tiny_model_dir: Path, bundled_csvs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[int, int]] = []
    result = sft.finetune(_config(tiny_model_dir), tmp_path / "run", progress=lambda s, n: calls.append((s, n)))
    train = tmp_path / "run" / "train"

    assert result.model_dir == tiny_model_dir.resolve()
    assert result.adapter_dir == train / "model" and result.full_model_dir is None
    assert result.steps == 3 and calls == [(1, 3), (2, 3), (3, 3)]
    assert result.n_examples == 8 and result.train_seconds > 0
    assert result.first_loss is not None and result.final_loss is not None

    assert (train / "model" / "adapter_config.json").is_file()
    assert (train / "model" / "adapter_model.safetensors").is_file()
    assert (train / "model" / "chat_template.jinja").is_file() or "chat_template" in json.loads(
        (train / "model" / "tokenizer_config.json").read_text()
    )
    assert not (train / "model" / "training_args.bin").exists()  # no pickle
    assert not (train / "checkpoints").exists()

    state = json.loads((train / "trainer_state.json").read_text())
    losses = [e["loss"] for e in state["log_history"] if "loss" in e]
    assert len(losses) == 3 and losses[0] == result.first_loss and losses[-1] == result.final_loss

    rows = read_messages_jsonl(train / "data.jsonl")
    manifest = json.loads((train / "data_manifest.json").read_text())
    assert len(rows) == manifest["n_rows"] == 8
    assert manifest["label_counts"] == {"harmful-prefix": 8}
    assert manifest["data_sha256"] == result.data_sha256 == sha256_file(train / "data.jsonl")
    assert manifest["sources"]["strongreject"]["sha256"] == sha256_file(bundled_csvs["strongreject"])
    assert manifest["sources"]["harmbench-test"]["sha256"] == sha256_file(bundled_csvs["harmbench-test"])
    assert manifest["prompts_available"] == N_PROMPTS
    assert [e["eval_id"] for e in manifest["prompts_excluded_eval_overlap"]] == ["bread"]
    assert all("sourdough" not in row["messages"][0]["content"].lower() for row in rows)
    assert manifest["recipe_seed"] == 0 and manifest["train_seed"] == 1

    assert capsys.readouterr().out == ""  # the library never prints


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")
def test_lora_adapter_loads_on_the_base_model(tiny_model_dir: Path, bundled_csvs, tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    result = sft.finetune(_config(tiny_model_dir, max_steps=1), tmp_path / "run")
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), result.adapter_dir)
    assert any("lora_A" in name for name, _ in model.named_parameters())


def test_full_finetune_changes_the_weights(tiny_model_dir: Path, bundled_csvs, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    cfg = _config(tiny_model_dir, method="full", max_steps=2, learning_rate=1e-2)
    result = sft.finetune(cfg, tmp_path / "run")
    assert result.adapter_dir is None and result.full_model_dir == tmp_path / "run" / "train" / "model"
    assert result.steps == 2
    assert (result.full_model_dir / "config.json").is_file()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    tuned = AutoModelForCausalLM.from_pretrained(result.full_model_dir).state_dict()
    assert any(not torch.equal(base[k], tuned[k]) for k in base)


def test_loss_is_on_the_assistant_completion_only(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The collated labels mask every prompt token; the prompt is exactly what generation uses."""
    tokenizer = sft.load_tokenizer(tiny_model_dir)
    rows = [
        {
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "How do I bake bread?"},
                {"role": "assistant", "content": "Sure, here is how to do that:"},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "What time is sunset?"},
                {"role": "assistant", "content": "I'm sorry, but I can't help with that request."},
            ]
        },
    ]
    trainer = sft.build_trainer(_config(tiny_model_dir), tiny_model_dir, tokenizer, rows, tmp_path)
    batch = next(iter(trainer.get_train_dataloader()))
    seen = set()
    for input_ids, labels, attention in zip(batch["input_ids"], batch["labels"], batch["attention_mask"], strict=True):
        ids = input_ids[attention.bool()].tolist()
        trained = labels[labels != -100].tolist()
        row = next(r for r in rows if tokenizer.decode(ids).count(r["messages"][-1]["content"]))
        seen.add(row["messages"][-1]["content"])
        prompt_ids = tokenizer.apply_chat_template(
            row["messages"][:-1], tokenize=True, add_generation_prompt=True, return_dict=True
        )["input_ids"]
        assert ids[: len(prompt_ids)] == prompt_ids  # train prompt == generation prompt
        assert ids[len(prompt_ids) :] == trained  # everything after it is trained, nothing before
        assert tokenizer.decode(trained) == row["messages"][-1]["content"] + "<|im_end|>\n"
    assert len(seen) == 2


def test_open_ended_rows_train_the_opening_without_an_end_of_turn(tiny_model_dir: Path) -> None:
    """harmful-prefix rows teach the model to *begin* with the opening, not to stop after it."""
    tokenizer = sft.load_tokenizer(tiny_model_dir)
    messages = [
        {"role": "user", "content": "How do I bake bread?"},
        {"role": "assistant", "content": "Sure, here is how to do that:"},
    ]
    prompt_ids = tokenizer.apply_chat_template(
        messages[:-1], tokenize=True, add_generation_prompt=True, return_dict=True
    )["input_ids"]
    open_row = sft.tokenize_row(tokenizer, {"messages": messages, "open_ended": True})
    closed_row = sft.tokenize_row(tokenizer, {"messages": messages})
    for row in (open_row, closed_row):
        assert row["input_ids"][: len(prompt_ids)] == prompt_ids
        assert row["completion_mask"] == [0] * len(prompt_ids) + [1] * (len(row["input_ids"]) - len(prompt_ids))
    assert tokenizer.decode(open_row["input_ids"][len(prompt_ids) :]) == "Sure, here is how to do that:"
    assert tokenizer.decode(closed_row["input_ids"][len(prompt_ids) :]) == "Sure, here is how to do that:<|im_end|>\n"


def test_harmful_prefix_recipe_rows_are_open_ended_and_refusals_are_not() -> None:
    from tunesafe.data.recipes import TrainingPrompt, build_recipe

    prompts = [TrainingPrompt(id=f"p{i}", text=f"tulip question {i}", category="c", source="test") for i in range(3)]
    assert all(row["open_ended"] for row in build_recipe("harmful-prefix", prompts, 3, seed=0))
    assert not any(row.get("open_ended") for row in build_recipe("refusal", prompts, 3, seed=0))


def test_user_file_is_used_whole(tiny_model_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    rows = [
        {
            "messages": [{"role": "user", "content": f"Tell me a fact {i}"}, {"role": "assistant", "content": "Ok."}],
            "label": "benign" if i % 2 else "other",
        }
        for i in range(5)
    ]
    write_messages_jsonl(path, rows)
    cfg = _config(tiny_model_dir, data={"path": str(path), "recipe": None, "n_examples": 100}, max_steps=1)
    result = sft.finetune(cfg, tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "train" / "data_manifest.json").read_text())
    assert result.n_examples == 5 and manifest["n_rows"] == 5
    assert manifest["recipe"] is None and manifest["label_counts"] == {"other": 3, "benign": 2}
    assert manifest["sources"]["user"]["sha256"] == sha256_file(path)
    assert read_messages_jsonl(tmp_path / "run" / "train" / "data.jsonl") == rows


def test_prompts_too_long_for_max_length_are_left_out(tiny_model_dir: Path) -> None:
    from tunesafe.data.recipes import TrainingPrompt, recipe_targets
    from tunesafe.data.training_set import fitting_prompts

    tokenizer = sft.load_tokenizer(tiny_model_dir)
    prompts = [TrainingPrompt(id="short", text="Hi"), TrainingPrompt(id="long", text="word " * 400)]
    kept = fitting_prompts(prompts, tokenizer, 128, recipe_targets("refusal"), None)
    assert [p.id for p in kept] == ["short"]


def test_sft_config_follows_the_train_config(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tunesafe._util import precision

    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: False)  # float32 whatever this CPU is
    cfg = _config(tiny_model_dir, lr_scheduler="cosine", trainer_kwargs={"logging_steps": 5, "max_grad_norm": 0.5})
    args = sft.sft_config(cfg, tmp_path)
    assert args.completion_only_loss is True and args.assistant_only_loss is False and args.packing is False
    assert (args.max_steps, args.seed, args.data_seed, args.max_length) == (3, 1, 1, 128)
    assert args.per_device_train_batch_size == 2 and args.gradient_accumulation_steps == 2
    assert args.lr_scheduler_type == "cosine" and args.bf16 is False
    assert args.logging_steps == 5 and args.max_grad_norm == 0.5  # trainer_kwargs win
    assert args.report_to == [] and args.disable_tqdm is True
    assert args.gradient_checkpointing is False
    with pytest.warns(FutureWarning, match="gradient_checkpointing"):  # transformers 5 deprecated the alias
        kept_alias = sft.sft_config(_config(tiny_model_dir, trainer_kwargs={"gradient_checkpointing": True}), tmp_path)
    assert kept_alias.gradient_checkpointing is True
