"""Which JVMs a Spark stage starts (``features.spark_jvm``): short-lived only where it is measured to pay."""

from __future__ import annotations

import pytest

from generec_core.config import PipelineConfig
from generec_core.spark.session import SHORT_LIVED_MAX_INPUT_BYTES, short_lived_jvm


def test_auto_is_short_lived_only_over_a_small_input():
    small, large = SHORT_LIVED_MAX_INPUT_BYTES, SHORT_LIVED_MAX_INPUT_BYTES + 1
    assert short_lived_jvm("auto", 0)
    assert short_lived_jvm("auto", small)
    assert not short_lived_jvm("auto", large)  # C1-only code is slower over a large day


def test_an_explicit_choice_wins_over_the_input_size():
    assert short_lived_jvm("short", SHORT_LIVED_MAX_INPUT_BYTES * 100)
    assert not short_lived_jvm("throughput", 0)


def test_an_unknown_choice_is_refused_naming_the_knob():
    assert PipelineConfig.from_dict({"root": "/tmp/w"}).features.spark_jvm == "auto"
    with pytest.raises(ValueError, match="features.spark_jvm"):
        PipelineConfig.from_dict({"root": "/tmp/w", "features": {"spark_jvm": "fast"}})
