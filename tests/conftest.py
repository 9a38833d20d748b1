import os
import tempfile

import numpy as np
import pytest

# generated modules go to a per-session cache, never the user's home
os.environ.setdefault("GRAPHGRAD_CACHE_DIR", tempfile.mkdtemp(prefix="graphgrad-test-cache-"))
# generated code asserts every value's shape and dtype against its IR type: a compiled result whose array
# type differs from what the IR (and eager) says fails the test that produced it
os.environ.setdefault("GRAPHGRAD_CHECK_TYPES", "1")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def check_gradients():
    """f, args -> compiled f, after the eager and compiled gradient checks of tests/_gradcheck.py."""
    from _gradcheck import check_gradients

    return check_gradients
