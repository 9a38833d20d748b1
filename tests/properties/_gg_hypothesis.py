"""Shared hypothesis settings: deterministic in CI, longer on request (see docs/testing.md)."""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


def examples(default: int) -> int:
    """``default`` examples, or GRAPHGRAD_HYPOTHESIS_EXAMPLES for a release run."""
    return int(os.environ.get("GRAPHGRAD_HYPOTHESIS_EXAMPLES", default))


def prop_settings(default: int) -> settings:
    # derandomize: the same examples on every run, so CI is reproducible; deadline=None: compile time varies
    # with machine load and is not what is tested
    return settings(derandomize=True, max_examples=examples(default), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])
