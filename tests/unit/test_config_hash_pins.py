"""Run directories and fine-tunes made by earlier versions keep resuming: their config hashes do not change.

Every hash below was computed by tunesafe at commit 6fe653e, before the configuration moved into the
``tunesafe.config`` package and the audit and training hashes became one function. A change that moves
any of them makes existing run directories refuse to resume ("holds a run of a different config").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesafe.config import AuditConfig, TrainConfig, config_hash, load_config
from tunesafe.experiment import BASE, audit_config, load_experiment, train_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "experiments"

CONFIGS = [
    (AuditConfig, [], "c50dbe88087c1466bbadee2de19f84931f54d4100f2609eb9b105e2937681389"),  # audit-default
    (
        AuditConfig,
        [
            "audits.drift={}",
            "audits.truthfulness={multiple_choice: x.jsonl}",
            "audits.harmful.calibration={bundled: true}",
        ],
        "144d49c2c9bc67e117af9e8f3ba914f19385941f512c6dfbfb6ce1b21b863d25",
    ),  # audit-all-on
    (
        AuditConfig,
        [
            "model.backend=openai",
            "model.source=served",
            "model.endpoint={base_url: 'http://127.0.0.1:8000/v1', model: m}",
        ],
        "4730752a752daf8dfc927962e3a7900c6fc47fd8d3068b4f094f9bc128bf6e22",
    ),  # audit-served
    (
        AuditConfig,
        ["audits.harmful.judges=[keyword-extended, qi-rubric@qwen2.5-coder-0.5b-instruct]"],
        "66ab5624da41e55072265a300bad25ba69f6d0ee4b247b6be452bcd2c38bbd8f",
    ),  # audit-llm-judge
    (
        AuditConfig,
        [
            "audits.drift={known_only: true, runs: 3, temperature: 0.7, conditions: [B, FIPx2, RIP]}",
            "generation.max_new_tokens=16",
        ],
        "e8ae6a972b047c33f8a595978924b1ec4233dacd695155592fff5a9ce1e1bb84",
    ),  # audit-drift-known
    (
        AuditConfig,
        ["model.adapter=/x/adapter", "model.system_prompt=hello", "model.dtype=bfloat16"],
        "ddce84d1e3bc62dbf0c31ea92ebba60e407b14dbb77d2b5764e0aaabcca03e43",
    ),  # audit-adapter
    (TrainConfig, [], "cc6388b9d8c2be09bd01b4f547da31dafcdfc97f40d0b4518a4dc234c1ae72fe"),  # train-default
    (TrainConfig, ["screen={}"], "26a887d8c188be34b34ade94c663a44548ca2705a5527b584a268bf780d49789"),  # train-screen
    (
        TrainConfig,
        ["safety_eval={every_n_steps: 5}"],
        "01d9f23963faecfb66bbfc8d80b295cd6d6c04935b57bfe425ed7b25582ad242",
    ),  # train-safety
    (
        TrainConfig,
        ["preset=kumar2024"],
        "88834ffd07e3558ed8a8f5de1e2d9d9c1f691ddb3680f26675ceabed331b3e85",
    ),  # train-preset
    (
        TrainConfig,
        ["data={recipe: benign, n_examples: 100, harmful_fraction: 0.2}"],
        "ee8947a97e3e3e323f70df7daf042e1814b2d5f6ce6c5a9f9b8fc45c91bb8915",
    ),  # train-mixed
    (
        TrainConfig,
        ["data={recipe: null, path: d.csv, columns: {prompt: p, response: r}, role: benign}"],
        "00f022df00ad9948318e5b16af96115aee9837c846c9c292cf183f7e63c56602",
    ),  # train-user
]

# each example experiment's base audit and fine-tunes (replicates included)
EXPERIMENTS = {
    "kumar2024-cpu:audit-base": "5d8f0d8df142d28fdd56c8b78fa21ea4a767017332682860f0798df2542a512c",
    "kumar2024-cpu:finetune-harmful-prefix": "8e197ac93bd22376f60ce75e366e4da1d9c9e6e7fa78b21392928f180f6417c1",
    "kumar2024-cpu:finetune-refusal": "7f3423dd72474c4005babf583b4f06fc55f312ab949d012db58582f1077e30b1",
    "kumar2024:audit-base": "fe85905b48e7d712e63794d9d3c98f9b23d753fc6fd262681ba3167cd93c7491",
    "kumar2024:finetune-harmful": "c8016423b8695015030c5dae0ec78434ee2492bd80b591a7b61a96833760b36d",
    "kumar2024:finetune-safe": "d9b6cb79cfab7e37f8c2f0c567370035caecaae8093f6936458986a69d97ca31",
    "qi2023:audit-base": "2cdfe31ebcbc9171c144c83010b57e72234f4a4e924bafa38947ea1f9541b06c",
    "qi2023:finetune-tier1-harmful-100shot": "ea2f041ef98ad3c038deb475349d86c50f0437526a3b4a5e99eff9f79e9c30f9",
    "qi2023:finetune-tier2-identity-shift": "567ce59374ee572491911af95488ddda147e72b573b7d505398e9abc8ba40e40",
    "qi2023:finetune-tier3-alpaca": "a2e1a9bf0217d3a274e25f7bcead3e0d676637ddf644febe7a7b43e9f11dacf8",
    "qi2023:finetune-tier3-alpaca+safety": "22b7f278a9c3f7f3a7d0d1d0396578edcc34d902c1bba9c4733a3f59c19ad68f",
    "tiers-cpu:audit-base": "d6673316ac83b090a75374402d4f9cff16bdef8c888ca5028fc7d2b6f87cb9b2",
    "tiers-cpu:finetune-benign": "31e21da7e62cd65b478bf7b2385cab450824ebab6bcefc24620ac8f3499ab89e",
    "tiers-cpu:finetune-benign+harmful20": "8607105f20c037c0906983f6938471601f4e5064dd08a3fdde3492067ac03c8e",
    "tiers-cpu:finetune-benign+harmful20-screened": "4f21bfea081e0cb6312ab9e8bf23a0be86326bc47b8409d49ffeb967856396cb",
    "tiers-cpu:finetune-identity-shift": "170803a608295807360c76c9a72d96a4a3d8a2b47912d2caee147c4e8d19e599",
    "tiers-cpu:finetune-identity-shift+safety30": "00cbd53c7066e37e6f4016f169d97fd7cc7e1374eef3c12f95247dcccba8f94e",
}


@pytest.mark.parametrize(("cls", "overrides", "pinned"), CONFIGS)
def test_config_hashes_are_those_of_before(
    cls: type[AuditConfig | TrainConfig], overrides: list[str], pinned: str
) -> None:
    assert config_hash(load_config(cls, None, overrides)) == pinned


def test_every_example_experiment_keeps_its_hashes() -> None:
    found = {}
    for path in sorted(EXAMPLES.glob("*.yaml")):
        experiment = load_experiment(path)
        found[f"{path.stem}:audit-base"] = config_hash(audit_config(experiment, BASE, experiment.base))
        for variant in experiment.variants:
            if variant.kind == "fine-tune":
                for replicate in variant.replicates():
                    found[f"{path.stem}:finetune-{replicate.label}"] = config_hash(
                        train_config(experiment, variant, replicate.seed)
                    )
    assert found == EXPERIMENTS
