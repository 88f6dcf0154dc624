"""Where a model runs and in which precision: ``auto`` device and dtype resolved for this machine.

torch is imported only when the answer depends on the machine (an ``auto`` left to resolve), so
callers that were given explicit values stay torch-free.
"""

from __future__ import annotations

from pathlib import Path

DTYPES = ("float32", "bfloat16", "float16")
"""Concrete floating-point dtypes a model can be loaded in (names of ``torch`` attributes)."""

DTYPE_CHOICES = ("auto", *DTYPES)


def resolve_device(device: str) -> str:
    """The concrete device: "auto" becomes "cuda" when a CUDA GPU is available, else "cpu"."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cuda_supports_bf16() -> bool:
    """True when the current CUDA device computes bfloat16 natively (compute capability 8.0+: Ampere,
    Hopper, ...). Emulated bf16 (which torch also reports as supported by default) does not count:
    it runs far slower than float16 on those GPUs."""
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False))


CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""``/proc/cpuinfo`` flags of x86 CPUs that compute bfloat16 natively (AMD Zen 4+, Intel Cooper Lake,
Sapphire Rapids+): oneDNN then runs bf16 matrix products about twice as fast as float32 ones."""


def cpu_supports_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when this CPU computes bfloat16 natively (one of :data:`CPU_BF16_FLAGS` in ``cpuinfo``).

    Elsewhere (older x86, ARM, macOS, no ``/proc``) bf16 is emulated and slower than float32."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return not CPU_BF16_FLAGS.isdisjoint(line.partition(":")[2].split())
    return False


def resolve_dtype(dtype: str, device: str) -> str:
    """The concrete dtype for ``device`` (already resolved: "cpu", "cuda", "cuda:1", "mps", ...).

    "auto" is bfloat16 on a CUDA GPU that supports it natively, float16 on an older CUDA GPU (where
    bfloat16 is emulated), and float32 everywhere else (CPU: half precision there is slow and lossy).
    An explicit dtype is returned as it is.
    """
    if dtype != "auto":
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPE_CHOICES}, got {dtype!r}")
        return dtype
    if not device.startswith("cuda"):
        return "float32"
    return "bfloat16" if cuda_supports_bf16() else "float16"
