"""dtype ``auto`` and device resolution, for inference (``tunesafe._util.precision``) and training
(``tunesafe.train.sft.training_precision``). CUDA is mocked: nothing here needs a GPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tunesafe._util.precision import resolve_device, resolve_dtype
from tunesafe.config import TrainConfig

torch = pytest.importorskip("torch")


def _cuda(monkeypatch: pytest.MonkeyPatch, *, available: bool, bf16: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    # only native bf16 counts: the emulated kind (torch's default answer on older GPUs) is asked away
    monkeypatch.setattr(
        torch.cuda, "is_bf16_supported", lambda including_emulation=True: available and (bf16 or including_emulation)
    )


@pytest.mark.parametrize(
    ("available", "bf16", "device", "dtype"),
    [
        (False, False, "cpu", "float32"),
        (True, True, "cuda", "bfloat16"),
        (True, False, "cuda", "float16"),
    ],
)
def test_auto_resolves_per_machine(
    monkeypatch: pytest.MonkeyPatch, available: bool, bf16: bool, device: str, dtype: str
) -> None:
    _cuda(monkeypatch, available=available, bf16=bf16)
    assert resolve_device("auto") == device
    assert resolve_dtype("auto", resolve_device("auto")) == dtype
    assert resolve_dtype("auto", "cpu") == "float32"
    assert resolve_dtype("auto", "mps") == "float32"
    assert resolve_dtype("float16", "cpu") == "float16"  # explicit wins
    with pytest.raises(ValueError, match="dtype"):
        resolve_dtype("int8", "cpu")


def _train(**model: Any) -> TrainConfig:
    return TrainConfig.model_validate({"model": model})


def _cpu_bf16(monkeypatch: pytest.MonkeyPatch, native: bool) -> None:
    from tunesafe._util import precision

    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: native)


def test_training_on_a_cpu_without_bf16_is_float32_without_autocast(monkeypatch: pytest.MonkeyPatch) -> None:
    from tunesafe.train.sft import TrainingPrecision, sft_config, training_precision

    _cuda(monkeypatch, available=False, bf16=False)
    _cpu_bf16(monkeypatch, False)
    assert training_precision(TrainConfig()) == TrainingPrecision("float32", bf16=False, use_cpu=True)
    args = sft_config(TrainConfig(), Path("unused"))
    assert (args.bf16, args.fp16, args.use_cpu) == (False, False, True)


def test_a_cpu_with_native_bf16_keeps_float32_weights_under_bf16_autocast(monkeypatch: pytest.MonkeyPatch) -> None:
    from tunesafe.train.sft import TrainingPrecision, sft_config, training_precision

    _cuda(monkeypatch, available=False, bf16=False)
    _cpu_bf16(monkeypatch, True)
    assert training_precision(TrainConfig()) == TrainingPrecision("float32", bf16=True, use_cpu=True)
    assert training_precision(TrainConfig(method="full")) == TrainingPrecision("float32", bf16=True, use_cpu=True)
    # an explicit float32 is full precision, no autocast
    assert training_precision(_train(dtype="float32")) == TrainingPrecision("float32", bf16=False, use_cpu=True)
    args = sft_config(TrainConfig(), Path("unused"))  # transformers accepts bf16 autocast on CPU
    assert (args.bf16, args.fp16, args.use_cpu) == (True, False, True)


_CPUINFO = """processor\t: 0
vendor_id\t: {vendor}
model name\t: {model}
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep sse sse2 ssse3 fma cx16 avx2 {extra}
bugs\t\t: sysret_ss_attrs spectre_v1

processor\t: 1
"""


@pytest.mark.parametrize(
    ("vendor", "model", "extra", "native"),
    [
        ("AuthenticAMD", "AMD EPYC 9B14", "avx512f avx512_bf16 avx512_vnni", True),  # Zen 4
        ("GenuineIntel", "Intel(R) Xeon(R) Platinum 8480+", "avx512f amx_bf16 amx_tile amx_int8", True),
        ("GenuineIntel", "Intel(R) Xeon(R) CPU @ 2.20GHz", "avx512f avx512_vnni", False),  # Cascade Lake
        ("AuthenticAMD", "AMD EPYC 7B12", "sha_ni", False),  # Zen 2
    ],
)
def test_cpu_bf16_is_read_from_the_cpuinfo_flags(
    tmp_path: Path, vendor: str, model: str, extra: str, native: bool
) -> None:
    from tunesafe._util.precision import cpu_supports_bf16

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(_CPUINFO.format(vendor=vendor, model=model, extra=extra))
    assert cpu_supports_bf16(cpuinfo) is native
    assert cpu_supports_bf16(tmp_path / "missing") is False  # macOS, Windows: no /proc


def test_lora_on_a_bf16_gpu_loads_bfloat16_and_autocasts(monkeypatch: pytest.MonkeyPatch) -> None:
    import trl

    from tunesafe.train.sft import TrainingPrecision, sft_config, training_precision

    _cuda(monkeypatch, available=True, bf16=True)
    _cpu_bf16(monkeypatch, False)
    assert training_precision(TrainConfig()) == TrainingPrecision("bfloat16", bf16=True, use_cpu=False)
    qlora = TrainConfig(method="qlora")
    assert training_precision(qlora) == TrainingPrecision("bfloat16", bf16=True, use_cpu=False)
    # a full fine-tune keeps float32 master weights under bf16 autocast
    full = TrainConfig(method="full")
    assert training_precision(full) == TrainingPrecision("float32", bf16=True, use_cpu=False)
    # explicit settings: pure bf16 as written, and a CPU device keeps float32 on a GPU machine
    assert training_precision(_train(dtype="bfloat16")) == TrainingPrecision("bfloat16", bf16=True, use_cpu=False)
    assert training_precision(_train(device="cpu")) == TrainingPrecision("float32", bf16=False, use_cpu=True)
    # SFTConfig itself refuses bf16 without a real GPU, so record what it is given
    monkeypatch.setattr(trl, "SFTConfig", lambda **kwargs: kwargs)
    kwargs = sft_config(TrainConfig(), Path("unused"))
    assert (kwargs["bf16"], kwargs["fp16"], kwargs["use_cpu"]) == (True, False, False)


def test_an_older_gpu_trains_in_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    from tunesafe.train.sft import TrainingPrecision, training_precision

    _cuda(monkeypatch, available=True, bf16=False)
    assert training_precision(TrainConfig()) == TrainingPrecision("float32", bf16=False, use_cpu=False)
    assert training_precision(_train(dtype="float16")) == TrainingPrecision("float16", bf16=False, use_cpu=False)


def test_the_model_loads_in_the_training_dtype_and_device_map(monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoModelForCausalLM

    from tunesafe.train import sft

    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", lambda path, **kwargs: seen.append(kwargs))
    _cuda(monkeypatch, available=True, bf16=True)
    sft._load_model(TrainConfig(), Path("model"))
    sft._load_model(_train(device_map="auto"), Path("model"))
    _cuda(monkeypatch, available=False, bf16=False)
    sft._load_model(TrainConfig(), Path("model"))
    assert seen == [
        {"dtype": torch.bfloat16},
        {"dtype": torch.bfloat16, "device_map": "auto"},
        {"dtype": torch.float32},
    ]
