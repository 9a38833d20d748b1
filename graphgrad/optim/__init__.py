"""Optimizers: ``SGD``, ``Adam``, ``AdamW``, ``Adamax``, ``NAdam``, ``RAdam``, ``ASGD``, ``Rprop`` and more, with
PyTorch's update formulas and parameter groups.

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
from .adamax import Adamax
from .asgd import ASGD
from .lbfgs import LBFGS
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import Adagrad, RMSprop
from .rprop import Rprop
from .sgd import SGD

__all__ = ["Adadelta", "Adagrad", "Adam", "AdamW", "LBFGS", "Optimizer", "RMSprop", "SGD", "lr_scheduler",
           "Adamax", "NAdam", "RAdam", "ASGD", "Rprop"]
