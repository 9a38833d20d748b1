import os
import tempfile

import numpy as np
import pytest

# generated modules go to a per-session cache, never the user's home
os.environ.setdefault("GRAPHGRAD_CACHE_DIR", tempfile.mkdtemp(prefix="graphgrad-test-cache-"))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
