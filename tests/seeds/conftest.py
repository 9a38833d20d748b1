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
    """Stand-in for ``torchvision.models.resnet18``: the same kind of network in miniature (a strided conv stem
    with batch norm and max pooling, one residual block, global average pooling, 512 features, an ``fc`` head).
    Pretrained weights cannot be downloaded in tests, so it starts from graphgrad's seeded initialisation."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.widen = nn.Conv2d(8, 512, 1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.relu(x + self.bn2(self.conv2(x)))  # the residual connection
        x = self.widen(self.avgpool(x)).flatten(1)
        return self.fc(x)


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
