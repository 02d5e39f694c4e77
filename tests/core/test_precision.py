"""Network precision settings (ARCH-016): the choice, its validation and how ``'auto'`` resolves."""

from __future__ import annotations

from pathlib import Path

import pytest

from ptycho.config.config import InferenceConfig, ModelConfig, TrainingConfig
from ptycho.precision import cpu_supports_bfloat16, resolve_precision


def _cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: test cpu\nflags\t\t: fpu sse2 {flags}\n\n")
    return path


@pytest.mark.parametrize("flag", ["avx512_bf16", "amx_bf16"])
def test_cpu_with_bfloat16_units_is_detected_from_its_flags(tmp_path: Path, flag: str) -> None:
    assert cpu_supports_bfloat16(_cpuinfo(tmp_path, f"avx2 {flag} avx512f"))


def test_cpu_without_bfloat16_units_is_not_detected(tmp_path: Path) -> None:
    # avx512f alone (or a flag that merely contains 'bf16' in another name) is not enough
    assert not cpu_supports_bfloat16(_cpuinfo(tmp_path, "avx2 avx512f avx512_vnni"))
    assert not cpu_supports_bfloat16(tmp_path / "missing")


@pytest.mark.parametrize("explicit", ["float32", "bfloat16"])
def test_explicit_precision_is_kept_on_any_device(explicit: str) -> None:
    assert resolve_precision(explicit) == explicit
    assert resolve_precision(explicit, on_gpu=True, gpu_bf16=False) == explicit


def test_auto_follows_the_gpu_when_running_on_one() -> None:
    assert resolve_precision("auto", on_gpu=True, gpu_bf16=True) == "bfloat16"
    assert resolve_precision("auto", on_gpu=True, gpu_bf16=False) == "float32"


def test_auto_on_the_cpu_follows_its_bfloat16_units() -> None:
    expected = "bfloat16" if cpu_supports_bfloat16() else "float32"
    assert resolve_precision("auto") == expected


def test_unknown_precision_is_rejected_with_the_allowed_values() -> None:
    with pytest.raises(ValueError, match="auto, float32, bfloat16.*'fp16'"):
        resolve_precision("fp16")


@pytest.mark.parametrize("config_class", [TrainingConfig, InferenceConfig])
def test_configs_default_to_float32_and_reject_unknown_precisions(config_class: type) -> None:
    assert config_class().precision == "float32"
    assert config_class(precision="bfloat16").precision == "bfloat16"
    with pytest.raises(ValueError, match="precision"):
        config_class(model=ModelConfig(), precision="half")
