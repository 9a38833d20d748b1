"""The runnable examples in public docstrings run and print what they show."""
import doctest
import importlib

import pytest

MODULES = ["graphgrad.numpy", "graphgrad.runtime.compiled", "graphgrad.ir", "graphgrad.runtime.grad_mode"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
