"""Helpers for running the seed documents' programs (../shared/seeds/) exactly as written.

Each test holds a program copied from a seed document with only its imports changed
(``import torch`` -> ``import graphgrad as torch``) and compares what it prints with what the document shows.
"""
import contextlib
import io
import sys
import textwrap
import types

import pytest

import graphgrad as gg
import graphgrad.nn as nn


class SmallResNet(nn.Module):
    """Stand-in for ``torchvision.models.resnet18``: the seeds only need a feature extractor and a ``.fc`` head
    of 512 inputs. Pretrained weights cannot be downloaded in tests, so the features are a pooled image
    followed by one trained-from-scratch layer."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.features = nn.Linear(3 * 8 * 8, 512)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        n, c, h, w = x.shape
        pooled = x.reshape(n, c, 8, h // 8, 8, w // 8).mean(dim=(3, 5)).reshape(n, -1)
        return self.fc(self.relu(self.features(pooled)))


def resnet18(pretrained: bool = False, weights=None, num_classes: int = 1000) -> SmallResNet:
    return SmallResNet(num_classes)


@pytest.fixture
def fake_torchvision(monkeypatch):
    """Makes ``import torchvision`` inside a seed program give ``models.resnet18`` = :class:`SmallResNet`."""
    module = types.ModuleType("torchvision")
    module.models = types.SimpleNamespace(resnet18=resnet18)
    monkeypatch.setitem(sys.modules, "torchvision", module)
    return module


def run_program(source: str, seed: int | None = None) -> tuple[str, dict]:
    """Run ``source`` as a script; return what it printed and its globals."""
    if seed is not None:
        gg.manual_seed(seed)
    namespace = {"__name__": "__seed__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(textwrap.dedent(source), "<seed program>", "exec"), namespace)
    return out.getvalue(), namespace


def document_block(text: str) -> str:
    """A block of expected output as the document prints it (leading newline and indentation removed)."""
    return textwrap.dedent(text).lstrip("\n")
