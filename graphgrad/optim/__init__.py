"""Optimizers: ``SGD``, ``Adam``, ``AdamW`` with PyTorch's update formulas and parameter groups.

>>> import graphgrad as gg
>>> model = gg.nn.Linear(3, 1)
>>> opt = gg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
>>> loss = model(gg.ones(4, 3)).pow(2).mean()
>>> loss.backward()
>>> opt.step()
>>> opt.zero_grad()
>>> model.weight.grad is None
True
"""
from . import lr_scheduler
from .adadelta import Adadelta
from .adam import Adam, AdamW
from .lbfgs import LBFGS
from .optimizer import Optimizer
from .rmsprop import Adagrad, RMSprop
from .sgd import SGD

__all__ = ["Adadelta", "Adagrad", "Adam", "AdamW", "LBFGS", "Optimizer", "RMSprop", "SGD", "lr_scheduler"]
