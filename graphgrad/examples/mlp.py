"""A two-layer MLP classifier: the model ``graphgrad demo`` compiles, inspects and trains.

Try: ``graphgrad dump graphgrad/examples/mlp.py:loss --arg w1=f32[2,32]:grad --arg b1=f32[32]:grad
--arg w2=f32[32,3]:grad --arg b2=f32[3]:grad --arg x=f32[64,2] --arg y=f32[64,3]``
"""
import numpy as np


def loss(w1, b1, w2, b2, x, y):
    hidden = (x @ w1 + b1).relu()
    logits = hidden @ w2 + b2
    log_probs = logits.log_softmax(dim=1)
    return -(y * log_probs).sum(dim=1).mean()


def make_data(n: int = 384, classes: int = 3, seed: int = 0):
    """Interleaved spirals: not linearly separable, so the hidden layer has work to do."""
    rng = np.random.default_rng(seed)
    per = n // classes
    xs, labels = [], []
    for c in range(classes):
        r = np.linspace(0.05, 1.0, per)
        theta = np.linspace(c * 4.2, (c + 1) * 4.2, per) + rng.normal(0, 0.15, per)
        xs.append(np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1))
        labels.append(np.full(per, c))
    x = np.concatenate(xs).astype(np.float32)
    label = np.concatenate(labels)
    y = np.eye(classes, dtype=np.float32)[label]
    return x, y, label


def init_params(hidden: int = 32, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((2, hidden)) * np.sqrt(2.0 / 2)).astype(np.float32)
    w2 = (rng.standard_normal((hidden, classes)) * np.sqrt(1.0 / hidden)).astype(np.float32)
    return w1, np.zeros(hidden, np.float32), w2, np.zeros(classes, np.float32)
