import numpy as np
import pytest

import graphgrad as gg


@pytest.fixture
def assert_compiled_matches_eager():
    """``check(model, loss, *args)``: ``gg.compile(loss)`` leaves the same ``.grad`` on every parameter of
    ``model`` as eager ``loss`` does; returns the compiled function."""
    def check(model, loss, *args):
        compiled = gg.compile(loss)
        model.zero_grad()
        compiled(*args).backward()
        grads = [p.grad.numpy().copy() for p in model.parameters()]
        model.zero_grad()
        loss(*args).backward()
        for (name, p), g in zip(model.named_parameters(), grads):
            np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-12, atol=1e-15, err_msg=name)
        return compiled
    return check
