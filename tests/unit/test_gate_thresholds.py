"""Gate thresholds from option values: CONDITION=POINTS limits, one-line errors naming the option."""

import math

import pytest

from tunesafe.config import ConfigError
from tunesafe.gate import GateThresholds, gate_thresholds


def test_values_and_condition_limits() -> None:
    thresholds = gate_thresholds(
        ["FIPx1=5", " RIP = 2.5", "FIPx1=4"], max_asr_increase=5.0, max_asr=None, alpha=0.1, models=["a"]
    )
    assert thresholds == GateThresholds(
        max_asr_increase=5.0, max_drift_condition={"FIPx1": 4.0, "RIP": 2.5}, alpha=0.1, models=["a"]
    )
    assert gate_thresholds() == GateThresholds()


@pytest.mark.parametrize("item", ["FIP", "=5", " =5", "FIP=", "FIP=five"])
def test_condition_limit_refused(item: str) -> None:
    with pytest.raises(ConfigError) as err:
        gate_thresholds([item], max_drift=1.0)
    assert str(err.value) == f"--max-drift-condition {item!r}: write CONDITION=POINTS, e.g. FIPx1=5"


def test_bad_value_names_its_option() -> None:
    with pytest.raises(ConfigError) as err:
        gate_thresholds(max_asr=120.0)
    assert str(err.value) == "--max-asr: Input should be less than or equal to 100"
    with pytest.raises(ConfigError) as err:
        gate_thresholds(alpha=1.5, max_asr=120.0)  # the first field in the thresholds' order
    assert str(err.value) == "--max-asr: Input should be less than or equal to 100"
    with pytest.raises(ConfigError) as err:
        gate_thresholds(["FIP=inf"])
    assert str(err.value).startswith("--max-drift-condition: ")
    with pytest.raises(ConfigError, match="^--max-drift: "):
        gate_thresholds(max_drift=math.nan)
