"""The multi-GPU configs in examples/accelerate load with the installed accelerate (docs/gpu.md)."""

import os
from pathlib import Path
from unittest import mock

import pytest

pytest.importorskip("accelerate")

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "accelerate"


def _launch_env(path: Path, num_processes: int = 4) -> dict[str, str]:
    """The environment `accelerate launch --config_file <path>` gives each process (as on a 4-GPU machine)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    argv = ["--config_file", str(path), "--num_processes", str(num_processes), "-m", "tunesafe", "finetune"]
    args = launch_command_parser().parse_args(argv)
    with (
        mock.patch("torch.cuda.is_available", return_value=True),
        mock.patch("torch.cuda.device_count", return_value=4),
    ):
        args, _, _ = _validate_launch_command(args)
    return prepare_multi_gpu_env(args)


def test_ddp_config_is_plain_data_parallel() -> None:
    env = _launch_env(CONFIGS / "ddp.yaml")
    assert env["ACCELERATE_MIXED_PRECISION"] == "no"  # tunesafe's own precision, as on one GPU
    assert "ACCELERATE_USE_FSDP" not in env


def test_fsdp_config_builds_an_fsdp2_plugin_that_saves_whole_folders() -> None:
    from accelerate.utils import FullyShardedDataParallelPlugin

    env = _launch_env(CONFIGS / "fsdp.yaml")
    assert env["ACCELERATE_USE_FSDP"] == "true" and env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    with mock.patch.dict(os.environ, env):
        plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2
    assert plugin.state_dict_type.name == "FULL_STATE_DICT"  # adapter / model saved as one ordinary folder
    assert plugin.activation_checkpointing is False  # tunesafe's gradient_checkpointing may be on instead
