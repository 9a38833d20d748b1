"""The runnable examples in public docstrings run and print what they show."""
import doctest
import importlib
import pkgutil

import pytest

import graphgrad

MODULES = ["graphgrad"] + sorted(m.name for m in pkgutil.walk_packages(graphgrad.__path__, "graphgrad.")
                 if not m.name.startswith("graphgrad.examples"))


def test_the_public_api_has_examples():
    with_examples = [name for name in MODULES
                     if any(t.examples for t in doctest.DocTestFinder().find(importlib.import_module(name)))]
    for expected in ("graphgrad", "graphgrad.nn", "graphgrad.nn.module", "graphgrad.optim", "graphgrad.utils.data"):
        assert expected in with_examples


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
