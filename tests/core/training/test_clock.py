import time

import pytest

from contrastdm.training.clock import StageClock


def test_a_stage_timed_twice_adds_up_and_a_failing_block_is_still_charged():
    clock = StageClock("cpu")
    with clock("read"):
        time.sleep(0.02)
    with clock("read"):
        time.sleep(0.02)
    with pytest.raises(RuntimeError):
        with clock("fit"):
            time.sleep(0.01)
            raise RuntimeError("stop")
    assert set(clock) == {"read", "fit"}
    assert clock["read"] >= 0.04 and clock["fit"] >= 0.01
    assert clock.rounded(1)["read"] == round(clock["read"], 1)
