"""The llama.cpp runtime's guard against ggml's AMX kernels (a segfault in llama_decode on CPUs with AMX
when GCC built them): no special hardware needed, the C API is faked."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from tests.fakes import require_llama_cpp

from tunesafe.backends import llamacpp_runtime as rt

ROOT = Path(__file__).resolve().parents[2]
WITH_AMX = "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | AMX_INT8 = 1 | OPENMP = 1 | REPACK = 1 | "
WITHOUT_AMX = "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | OPENMP = 1 | REPACK = 1 | "


def test_amx_kernels_are_read_from_the_system_info() -> None:
    assert rt.has_amx_kernels(WITH_AMX)
    assert not rt.has_amx_kernels(WITHOUT_AMX)
    assert not rt.has_amx_kernels("CPU : AMX_INT8 = 0 | ")
    assert not rt.has_amx_kernels("")


class FakeApi:
    """Just what ``LlamaCppRuntime.load`` calls; the model fails to load once its parameters are seen."""

    def __init__(self, system_info: str) -> None:
        self.system_info = system_info.encode()
        self.params: Any = None

    def llama_print_system_info(self) -> bytes:
        return self.system_info

    def llama_model_default_params(self) -> Any:
        return SimpleNamespace(use_extra_bufts=True)

    def llama_model_load_from_file(self, path: bytes, params: Any) -> None:
        self.params = params
        return None


@pytest.mark.parametrize(("info", "extra_bufts"), [(WITH_AMX, False), (WITHOUT_AMX, True)])
def test_a_build_with_amx_kernels_keeps_weights_out_of_their_buffers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, info: str, extra_bufts: bool
) -> None:
    api = FakeApi(info)
    monkeypatch.setattr(rt, "llama_cpp_api", lambda: api)
    monkeypatch.setattr(rt, "_amx_checked", None)
    runtime = rt.LlamaCppRuntime(
        Path("model.gguf"), None, batch_size=1, threads=1, flash_attn=False, name="llamacpp:test"
    )
    with pytest.raises(rt.BackendError, match="could not load"):
        runtime.load()
    assert api.params.use_extra_bufts is extra_bufts
    assert ("AMX" in caplog.text) is not extra_bufts


def test_the_wheel_build_leaves_the_amx_kernels_out() -> None:
    text = (ROOT / "cmake" / "llama-cpp-text-only.cmake").read_text()
    for flag in ("-mno-amx-tile", "-mno-amx-int8", "-mno-amx-bf16"):
        assert flag in text
    assert "cmake/llama-cpp-text-only.cmake" in (ROOT / "Makefile").read_text()


def test_the_installed_build_has_no_amx_kernels() -> None:
    """On a CPU with AMX, ``make install`` must not have built ggml's AMX kernels (elsewhere they never are)."""
    require_llama_cpp()
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists() or "amx_int8" not in cpuinfo.read_text():
        pytest.skip("this CPU has no AMX")
    built = rt.has_amx_kernels(rt.llama_cpp_api().llama_print_system_info().decode())
    assert not built, "llama-cpp-python was built with ggml's AMX kernels: rebuild it with make install"
