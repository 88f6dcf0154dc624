"""Training checkpoints: the last complete one, and whether it is the end of training.

A fine-tune killed mid-way resumes from its last complete checkpoint (transformers' own resume), so it
ends with the adapter an uninterrupted run gives.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def last_checkpoint(checkpoints: Path) -> Path | None:
    """The complete ``checkpoint-N`` folder with the highest N under ``checkpoints`` (None if there is none).

    transformers writes ``trainer_state.json`` last: a folder without a readable one was cut short by a
    killed process, is removed (with a warning) and the one before it is taken.
    """
    if not checkpoints.is_dir():
        return None
    found = [p for p in checkpoints.iterdir() if p.is_dir() and re.fullmatch(r"checkpoint-\d+", p.name)]
    for folder in sorted(found, key=lambda p: int(p.name.split("-")[1]), reverse=True):
        try:
            json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
            return folder
        except (OSError, ValueError):
            logger.warning("%s was cut short (no complete trainer_state.json); removing it", folder)
            shutil.rmtree(folder, ignore_errors=True)
    return None


def finished_at(trainer: Any, checkpoint: Path) -> bool:
    """Whether ``checkpoint`` holds the last step (the process died before saving the outputs): then its
    weights and state are loaded as they are, since resuming the training loop there would add a step."""
    from transformers import TrainerState

    state = TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))
    if not state.max_steps or state.global_step < state.max_steps:
        return False
    trainer._load_from_checkpoint(str(checkpoint))
    trainer.state = state
    return True
