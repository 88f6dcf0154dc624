"""Training-data assembly: a ``DataSpec`` → the exact rows a fine-tune trains on, and their provenance.

A recipe makes ``n_examples`` rows from the bundled request pool or authored examples (prompts that
do not fit ``max_length`` under the model's chat template are left out); a user JSONL or mapped table
is used whole. Harmful-prefix and refusal rows can be mixed in. With a ``screen`` section the rows
are screened first (:func:`screen_training_rows`). :func:`write_training_data` writes ``data.jsonl``
and ``data_manifest.json``; the rows screening dropped go to ``screen_flagged.jsonl``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesafe._util.hashing import sha256_file
from tunesafe._util.io import atomic_write_json, atomic_write_text
from tunesafe.config import DataSpec, ScreenSpec, TrainConfig
from tunesafe.data import IDENTITY_SHIFT_SYSTEM_PROMPT_FILE, bundled_path
from tunesafe.data.formats import read_messages_jsonl, write_messages_jsonl

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from tunesafe.data.recipes import MixPlan
    from tunesafe.screen import Screener

logger = logging.getLogger(__name__)

SCREEN_FLAGGED_FILE = "screen_flagged.jsonl"


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
        sources["system_prompt"] = _file_record(bundled_path(IDENTITY_SHIFT_SYSTEM_PROMPT_FILE))
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
    return len(chat_ids(tokenizer, messages, **kwargs))


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


def chat_ids(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]], **kwargs: Any) -> list[int]:
    """Token ids of ``messages`` rendered with the model's chat template."""
    encoded: Any = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kwargs)
    return list(encoded["input_ids"])
