"""The anchor workloads of ``run_all.py``: each as graphgrad code (run compiled and eagerly), as the NumPy a
careful expert writes by hand (preallocated buffers, ``out=``, fused formulas, batched matrix products), and as
PyTorch / JAX code when those are installed.

Each ``make_*`` returns a ``Workload``: step functions that do one full training step (or loss and gradients) and
return the gradients, so that every candidate's answer can be checked against the hand-written NumPy before it is
timed.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import graphgrad as gg  # noqa: E402
import graphgrad.nn.functional as F  # noqa: E402


@dataclass
class Workload:
    name: str
    title: str
    #: label -> zero-argument step returning the gradients (NumPy arrays), "NumPy by hand" first
    steps: dict
    #: tolerances for comparing each candidate's gradients with the hand-written NumPy ones
    rtol: float
    atol: float
    #: a fresh ``gg.compile``d function's first step (trace, compile, run), for the first-call cost
    first_call: Callable | None = None
    notes: list = field(default_factory=list)


def _grads(params) -> list:
    return [p.grad.numpy() for p in params]


def _shared(*arrays) -> list:
    """Tensors over the very arrays the hand-written and PyTorch (``from_numpy``) columns read, not copies: a copy
    is another place in memory, and which columns' data the caches hold then differs (the logreg's 32 MB ``x``:
    compiled vs hand 1.08-1.16x over a copy, 0.98-1.05x over the same array, one host, one code)."""
    return [gg.from_numpy(a) for a in arrays]


def _gg_step(fn, params, data, lr: float | None = None):
    """One step of graphgrad code: gradients of ``fn(*params, *data)`` (and an SGD update when ``lr`` is given)."""
    if lr is not None:
        opt = gg.optim.SGD(params, lr=lr)

        def sgd_step():
            opt.zero_grad()
            fn(*params, *data).backward()
            grads = _grads(params)
            opt.step()
            return grads
        return sgd_step

    def step():
        for p in params:
            p.grad = None
        fn(*params, *data).backward()
        return _grads(params)
    return step


def _torch_step(torch, fn, arrays, data, lr: float | None = None):
    params = [torch.tensor(a, requires_grad=True) for a in arrays]
    tensors = [torch.from_numpy(np.ascontiguousarray(d)) for d in data]
    opt = torch.optim.SGD(params, lr=lr) if lr is not None else None

    def step():
        if opt is not None:
            opt.zero_grad()
        else:
            for p in params:
                p.grad = None
        fn(*params, *tensors).backward()
        grads = [p.grad.numpy().copy() for p in params]
        if opt is not None:
            opt.step()
        return grads
    return step


def _jax_step(jax, fn, arrays, data, lr: float | None = None):
    """``jax.jit`` of value-and-grad (and the SGD update, all in one jitted function when ``lr`` is given)."""
    import jax.numpy as jnp

    argnums = tuple(range(len(arrays)))
    value_and_grad = jax.value_and_grad(fn, argnums=argnums)
    params = [jnp.asarray(a) for a in arrays]
    data = [jnp.asarray(d) for d in data]
    if lr is None:
        compiled = jax.jit(lambda *a: value_and_grad(*a)[1])

        def step():
            grads = compiled(*params, *data)
            return [np.asarray(g) for g in jax.block_until_ready(grads)]
        return step

    @jax.jit
    def update(*a):
        grads = value_and_grad(*a)[1]
        return grads, [p - lr * g for p, g in zip(a[:len(arrays)], grads)]

    def sgd_step():
        grads, new = update(*params, *data)
        jax.block_until_ready(new)
        params[:] = new
        return [np.asarray(g) for g in grads]
    return sgd_step


def _first_call(fn, params, data, lr=None):
    def run():
        return _gg_step(gg.compile(fn), params, data, lr)()
    return run


# -- mlp: 784-512-256-10, ReLU, softmax cross-entropy, batch 128, float32, one SGD step ----------------------------

MLP_SIZES = (784, 512, 256, 10)
MLP_LR = 0.01


def mlp_loss(w1, b1, w2, b2, w3, b3, x, y):
    h1 = (x @ w1 + b1).relu()
    h2 = (h1 @ w2 + b2).relu()
    return F.cross_entropy(h2 @ w3 + b3, y)


class HandMLP:
    """The MLP step by hand: every activation and gradient written into a buffer allocated once, the softmax
    and cross-entropy gradient fused into ``softmax - onehot``, the update applied in place."""

    def __init__(self, arrays, x, y, lr, floors=(0, 0)):
        self.params = [a.copy() for a in arrays]
        self.floors = floors  # what the ReLUs compare with (bench_scalar_blocks.py passes blocks of zeros)
        self.x, self.y, self.lr = x, y, lr
        batch = x.shape[0]
        dt = x.dtype
        widths = MLP_SIZES[1:]
        self.h = [np.empty((batch, w), dt) for w in widths]       # h1, h2, logits
        self.d = [np.empty((batch, w), dt) for w in widths]       # their gradients
        self.grads = [np.empty_like(p) for p in self.params]
        self.scaled = [np.empty_like(p) for p in self.params]
        self.rows = np.arange(batch)

    def gradients(self):
        w1, b1, w2, b2, w3, b3 = self.params
        h1, h2, z = self.h
        d1, d2, dz = self.d
        g = self.grads
        x = self.x
        floor1, floor2 = self.floors
        np.matmul(x, w1, out=h1); h1 += b1; np.maximum(h1, floor1, out=h1)  # noqa: E702
        np.matmul(h1, w2, out=h2); h2 += b2; np.maximum(h2, floor2, out=h2)  # noqa: E702
        np.matmul(h2, w3, out=z); z += b3                                  # noqa: E702
        z -= z.max(1, keepdims=True)
        np.exp(z, out=dz)
        total = dz.sum(1, keepdims=True)
        self.loss = np.log(total).mean() - z[self.rows, self.y].mean()
        dz /= total
        dz[self.rows, self.y] -= 1
        dz *= 1.0 / x.shape[0]
        np.matmul(h2.T, dz, out=g[4]); dz.sum(0, out=g[5])                 # noqa: E702
        np.matmul(dz, w3.T, out=d2); d2 *= h2 > 0                          # noqa: E702
        np.matmul(h1.T, d2, out=g[2]); d2.sum(0, out=g[3])                 # noqa: E702
        np.matmul(d2, w2.T, out=d1); d1 *= h1 > 0                          # noqa: E702
        np.matmul(x.T, d1, out=g[0]); d1.sum(0, out=g[1])                  # noqa: E702
        return g

    def step(self):
        grads = self.gradients()
        for p, g, scaled in zip(self.params, grads, self.scaled):
            np.multiply(g, self.lr, out=scaled)
            p -= scaled
        return grads


def mlp_data() -> tuple[list, np.ndarray, np.ndarray]:
    """The mlp's weights and biases (He-initialized, float32), a batch of 128 inputs and their class indices."""
    rng = np.random.default_rng(0)
    arrays = []
    for n_in, n_out in zip(MLP_SIZES[:-1], MLP_SIZES[1:]):
        arrays += [(rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)).astype(np.float32),
                   np.zeros(n_out, np.float32)]
    x = rng.standard_normal((128, MLP_SIZES[0])).astype(np.float32)
    y = rng.integers(0, MLP_SIZES[-1], 128)
    return arrays, x, y


def make_mlp(quick: bool) -> Workload:
    arrays, x, y = mlp_data()
    hand = HandMLP(arrays, x, y, MLP_LR)

    def gg_params():
        return [gg.tensor(a.copy(), requires_grad=True) for a in arrays]

    data = _shared(x, y)
    steps = {"NumPy by hand": hand.step,
             "graphgrad compiled (numpy)": _gg_step(gg.compile(mlp_loss), gg_params(), data, MLP_LR),
             "graphgrad eager": _gg_step(mlp_loss, gg_params(), data, MLP_LR)}
    torch = _optional("torch")
    if torch is not None:
        def torch_loss(w1, b1, w2, b2, w3, b3, x, y):
            h1 = (x @ w1 + b1).relu()
            h2 = (h1 @ w2 + b2).relu()
            return torch.nn.functional.cross_entropy(h2 @ w3 + b3, y)
        steps[f"PyTorch {torch.__version__} eager"] = _torch_step(torch, torch_loss, arrays, [x, y], MLP_LR)
    jax = _optional("jax")
    if jax is not None:
        def jax_loss(w1, b1, w2, b2, w3, b3, x, y):
            import jax.numpy as jnp

            h1 = jnp.maximum(x @ w1 + b1, 0)
            h2 = jnp.maximum(h1 @ w2 + b2, 0)
            logp = jax.nn.log_softmax(h2 @ w3 + b3)
            return -jnp.take_along_axis(logp, y[:, None], 1).mean()
        steps[f"JAX {jax.__version__} jit"] = _jax_step(jax, jax_loss, arrays, [x, y], MLP_LR)
    return Workload("mlp", "784-512-256-10 MLP, ReLU, softmax cross-entropy, batch 128, float32, one SGD step",
                    steps, 2e-3, 1e-5, _first_call(mlp_loss, gg_params(), data, MLP_LR))


# -- rnn: tanh RNN, hidden 64, input 32, batch 8, 50 steps, loss = sum of squares of the last state --------------

def rnn_loss(wx, wh, b, h0, xs):
    h = h0
    for t in range(xs.shape[0]):
        h = (xs[t] @ wx + h @ wh + b).tanh()
    return (h * h).sum()


class HandRNN:
    """The expert's RNN: the input projections of all time steps as one matrix product before the loop, the
    states kept in one (T+1, B, H) buffer, and the weight gradients as one product over all steps after the
    backward loop, which itself does one (B, H) x (H, H) product per step."""

    def __init__(self, wx, wh, b, h0, xs):
        self.wx, self.wh, self.b, self.xs = wx, wh, b, xs
        steps, batch, n_in = xs.shape
        hidden = wh.shape[0]
        dt = wx.dtype
        self.flat_x = xs.reshape(steps * batch, n_in)
        self.proj = np.empty((steps, batch, hidden), dt)
        self.hs = np.empty((steps + 1, batch, hidden), dt)
        self.hs[0] = h0
        self.da = np.empty((steps, batch, hidden), dt)
        self.dh = np.empty((batch, hidden), dt)
        self.gwx, self.gwh, self.gb = np.empty_like(wx), np.empty_like(wh), np.empty_like(b)

    def step(self):
        hs, da, dh, proj = self.hs, self.da, self.dh, self.proj
        steps, batch, hidden = proj.shape
        np.matmul(self.flat_x, self.wx, out=proj.reshape(steps * batch, hidden))
        proj += self.b
        for t in range(steps):
            np.matmul(hs[t], self.wh, out=hs[t + 1])
            hs[t + 1] += proj[t]
            np.tanh(hs[t + 1], out=hs[t + 1])
        last = hs[steps]
        self.loss = np.vdot(last, last)
        np.multiply(last, 2, out=dh)
        wh_t = self.wh.T
        for t in range(steps - 1, -1, -1):
            a = da[t]
            np.multiply(hs[t + 1], hs[t + 1], out=a)
            np.subtract(1, a, out=a)
            a *= dh
            if t:
                np.matmul(a, wh_t, out=dh)
        flat_da = da.reshape(steps * batch, hidden)
        np.matmul(self.flat_x.T, flat_da, out=self.gwx)
        np.matmul(hs[:-1].reshape(steps * batch, hidden).T, flat_da, out=self.gwh)
        flat_da.sum(0, out=self.gb)
        return [self.gwx, self.gwh, self.gb]


def make_rnn(quick: bool) -> Workload:
    rng = np.random.default_rng(0)
    steps, batch, n_in, hidden = 50, 8, 32, 64
    wx = (rng.standard_normal((n_in, hidden)) / np.sqrt(n_in)).astype(np.float32)
    wh = (rng.standard_normal((hidden, hidden)) / np.sqrt(hidden)).astype(np.float32)
    b = np.zeros(hidden, np.float32)
    h0 = np.zeros((batch, hidden), np.float32)
    xs = rng.standard_normal((steps, batch, n_in)).astype(np.float32)
    hand = HandRNN(wx, wh, b, h0, xs)

    def gg_params():
        return [gg.tensor(a, requires_grad=True) for a in (wx, wh, b)]

    data = _shared(h0, xs)
    steps_ = {"NumPy by hand": hand.step,
              "graphgrad compiled (numpy)": _gg_step(gg.compile(rnn_loss), gg_params(), data),
              "graphgrad eager": _gg_step(rnn_loss, gg_params(), data)}
    torch = _optional("torch")
    if torch is not None:
        steps_[f"PyTorch {torch.__version__} eager"] = _torch_step(torch, rnn_loss, [wx, wh, b], [h0, xs])
    jax = _optional("jax")
    if jax is not None:
        def jax_rnn(wx, wh, b, h0, xs):
            import jax.numpy as jnp

            def cell(h, x):
                h = jnp.tanh(x @ wx + h @ wh + b)
                return h, None
            h, _ = jax.lax.scan(cell, h0, xs)
            return (h * h).sum()
        steps_[f"JAX {jax.__version__} jit"] = _jax_step(jax, jax_rnn, [wx, wh, b], [h0, xs])
    return Workload("rnn", "tanh RNN, hidden 64, input 32, batch 8, 50 steps, loss = sum of squares of the last "
                    "state, float32", steps_, 2e-3, 1e-4, _first_call(rnn_loss, gg_params(), data))


# -- logreg: 20000 x 200 float64, mean log-loss + L2, gradients of weights and bias ------------------------------

LOGREG_L2 = 1e-3


def logreg_loss(w, b, x, y):
    return F.binary_cross_entropy_with_logits(x @ w + b, y) + LOGREG_L2 * (w * w).sum()


class HandLogReg:
    """Logistic regression by hand: one product for the logits, the loss and ``sigmoid(z) - y`` from one
    exponential each in place, one product for the weights' gradient. The loss's softplus is
    ``max(z, 0) + log1p(exp(-|z|))``, the sum of ``max(z, 0)`` is ``(sum(z) + sum(|z|)) / 2``: NumPy's
    ``logaddexp(0, z)`` gives the same but is a scalar loop (NumPy 2.4: ~30 ns an element, 20x ``exp``)."""

    def __init__(self, w, b, x, y):
        self.w, self.b, self.x, self.y = w, b, x, y
        self.z = np.empty(x.shape[0])
        self.s = np.empty(x.shape[0])
        self.gw = np.empty_like(w)

    def step(self):
        z, s, n = self.z, self.s, self.x.shape[0]
        np.matmul(self.x, self.w, out=z)
        z += self.b
        np.abs(z, out=s)
        positive = (z.sum() + s.sum()) / 2  # the sum of max(z, 0)
        np.negative(s, out=s)
        np.exp(s, out=s)
        np.log1p(s, out=s)
        self.loss = (s.sum() + positive - np.dot(self.y, z)) / n + LOGREG_L2 * np.dot(self.w, self.w)
        np.negative(z, out=s)                       # sigmoid(z) = 1 / (1 + exp(-z)), in place
        np.exp(s, out=s)
        s += 1
        np.reciprocal(s, out=s)
        s -= self.y
        s *= 1.0 / n
        np.matmul(self.x.T, s, out=self.gw)
        self.gw += (2 * LOGREG_L2) * self.w
        return [self.gw, np.asarray(s.sum())]


def make_logreg(quick: bool) -> Workload:
    rng = np.random.default_rng(0)
    n, d = (2000, 200) if quick else (20000, 200)
    x = rng.standard_normal((n, d))
    w = rng.standard_normal(d) * 0.05
    b = np.array(0.1)
    y = (x @ rng.standard_normal(d) + rng.standard_normal(n) > 0).astype(np.float64)
    hand = HandLogReg(w, b, x, y)

    def gg_params():
        return [gg.tensor(w, requires_grad=True), gg.tensor(b, requires_grad=True)]

    data = _shared(x, y)
    steps = {"NumPy by hand": hand.step,
             "graphgrad compiled (numpy)": _gg_step(gg.compile(logreg_loss), gg_params(), data),
             "graphgrad eager": _gg_step(logreg_loss, gg_params(), data)}
    torch = _optional("torch")
    if torch is not None:
        def torch_loss(w, b, x, y):
            return (torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y)
                    + LOGREG_L2 * (w * w).sum())
        steps[f"PyTorch {torch.__version__} eager"] = _torch_step(torch, torch_loss, [w, b], [x, y])
    jax = _optional("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)

        def jax_loss(w, b, x, y):
            import jax.numpy as jnp

            z = x @ w + b
            return (jnp.logaddexp(0, z) - y * z).mean() + LOGREG_L2 * (w * w).sum()
        steps[f"JAX {jax.__version__} jit"] = _jax_step(jax, jax_loss, [w, b], [x, y])
    return Workload("logreg", f"logistic regression {n}x{d} float64, mean log-loss + L2, gradients of w and b",
                    steps, 1e-9, 1e-12, _first_call(logreg_loss, gg_params(), data))


# -- tiny_chain: 100 chained elementwise ops (add/mul/tanh/sin/exp) on 16 float64 elements ------------------------

CHAIN_OPS = ("add", "mul", "tanh", "sin", "exp")
# constants that keep the gradient of 100 ops between about 1e-5 and 1 (with + 0.5 it vanishes to 1e-29, and a
# comparison of gradients would then check nothing)
CHAIN_ADD, CHAIN_MUL = -1.0, 0.9


def tiny_chain(x):
    y = x
    for i in range(100):
        op = CHAIN_OPS[i % 5]
        if op == "add":
            y = y + CHAIN_ADD
        elif op == "mul":
            y = y * CHAIN_MUL
        elif op == "tanh":
            y = y.tanh()
        elif op == "sin":
            y = y.sin()
        else:
            y = y.exp()
    return y.sum()


class HandChain:
    """The chain by hand: forward into one preallocated (101, 16) buffer, then the chain rule backward in place,
    each derivative from what the forward kept (tanh' = 1 - y^2 and exp' = y from outputs, sin' from inputs)."""

    def __init__(self, x):
        self.values = np.empty((101,) + x.shape)
        self.values[0] = x
        self.g = np.empty_like(x)
        self.tmp = np.empty_like(x)

    def step(self):
        v, g, tmp = self.values, self.g, self.tmp
        for i in range(100):
            op = CHAIN_OPS[i % 5]
            if op == "add":
                np.add(v[i], CHAIN_ADD, out=v[i + 1])
            elif op == "mul":
                np.multiply(v[i], CHAIN_MUL, out=v[i + 1])
            elif op == "tanh":
                np.tanh(v[i], out=v[i + 1])
            elif op == "sin":
                np.sin(v[i], out=v[i + 1])
            else:
                np.exp(v[i], out=v[i + 1])
        self.loss = v[100].sum()
        g.fill(1.0)
        for i in range(99, -1, -1):
            op = CHAIN_OPS[i % 5]
            if op == "mul":
                g *= CHAIN_MUL
            elif op == "tanh":
                np.multiply(v[i + 1], v[i + 1], out=tmp)
                np.subtract(1, tmp, out=tmp)
                g *= tmp
            elif op == "sin":
                np.cos(v[i], out=tmp)
                g *= tmp
            elif op == "exp":
                g *= v[i + 1]
        return [g]


def make_tiny_chain(quick: bool) -> Workload:
    x = np.random.default_rng(0).standard_normal(16)
    hand = HandChain(x)

    def gg_params():
        return [gg.tensor(x, requires_grad=True)]

    steps = {"NumPy by hand": hand.step,
             "graphgrad compiled (numpy)": _gg_step(gg.compile(tiny_chain), gg_params(), []),
             "graphgrad eager": _gg_step(tiny_chain, gg_params(), [])}
    notes = []
    if importlib.util.find_spec("numba") is not None:  # the whole chain, forward and backward, one njit loop each
        numba_step = _gg_step(gg.compile(tiny_chain, backend="numba"), gg_params(), [])
        start = time.perf_counter()
        numba_step()  # (check() would make it warm: its first call is timed here, Numba's JIT included)
        notes.append(f"first call of @gg.compile(backend='numba'): {(time.perf_counter() - start) * 1e3:.0f} ms "
                     "(trace, codegen, Numba's JIT of its loops)")
        steps["graphgrad compiled (numba)"] = numba_step
    torch = _optional("torch")
    if torch is not None:
        steps[f"PyTorch {torch.__version__} eager"] = _torch_step(torch, tiny_chain, [x], [])
    jax = _optional("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)

        def jax_chain(x):
            import jax.numpy as jnp

            for i in range(100):
                op = CHAIN_OPS[i % 5]
                x = (x + CHAIN_ADD if op == "add" else x * CHAIN_MUL if op == "mul" else
                     getattr(jnp, op)(x))
            return x.sum()
        steps[f"JAX {jax.__version__} jit"] = _jax_step(jax, jax_chain, [x], [])
    return Workload("tiny_chain", "100 chained elementwise ops (add, mul, tanh, sin, exp) on 16 float64 elements, "
                    "value and gradient", steps, 1e-9, 1e-14, _first_call(tiny_chain, gg_params(), []), notes)


# -- cnn: a LeNet step ---------------------------------------------------------------------------------------------

def lenet_loss(c1w, c1b, c2w, c2b, f1w, f1b, f2w, f2b, x, y):
    h = F.max_pool2d(F.conv2d(x, c1w, c1b).relu(), 2)
    h = F.max_pool2d(F.conv2d(h, c2w, c2b).relu(), 2)
    h = F.linear(h.reshape(h.shape[0], -1), f1w, f1b).relu()
    return F.cross_entropy(F.linear(h, f2w, f2b), y)


def _patch_rows(a, k):
    """(N, H, W, C) -> (N*OH*OW, C*k*k) rows of k x k patches, (c, i, j) order: one strided view, one copy."""
    win = np.lib.stride_tricks.sliding_window_view(a, (k, k), axis=(1, 2))  # (N, OH, OW, C, k, k)
    n, oh, ow = win.shape[:3]
    return win.reshape(n * oh * ow, -1), (n, oh, ow)


class HandLeNet:
    """LeNet by hand, channels-last throughout (so a convolution is one patch copy and one matrix product, and no
    transposes), ReLU applied after the max-pool (the same values, on a quarter of the elements), the pool's
    gradient routed by comparing with the window maximum, and the input gradient of the second convolution added
    back one kernel offset at a time (25 strided adds)."""

    def __init__(self, params, x, y):
        self.params = params
        self.x = x.transpose(0, 2, 3, 1)  # NHWC view; C = 1
        self.y = y
        self.rows = np.arange(x.shape[0])

    def _conv(self, a, w, b):
        rows, (n, oh, ow) = _patch_rows(a, w.shape[-1])
        out = rows @ w.reshape(w.shape[0], -1).T
        out += b
        return out.reshape(n, oh, ow, -1), rows

    @staticmethod
    def _pool_relu(a):
        n, h, w, c = a.shape
        win = a.reshape(n, h // 2, 2, w // 2, 2, c)
        m = win.max(axis=(2, 4))
        return np.maximum(m, 0), win, m

    @staticmethod
    def _pool_relu_grad(d, out, win, m):
        d = d * (out > 0)
        mask = win == m[:, :, None, :, None, :]
        n, h2, _, w2, _, c = win.shape
        return (mask * d[:, :, None, :, None, :]).reshape(n, h2 * 2, w2 * 2, c)

    def step(self):
        c1w, c1b, c2w, c2b, f1w, f1b, f2w, f2b = self.params
        n = self.x.shape[0]
        a1, rows1 = self._conv(self.x, c1w, c1b)                      # (N, 24, 24, 6)
        p1, win1, m1 = self._pool_relu(a1)                            # (N, 12, 12, 6)
        a2, rows2 = self._conv(p1, c2w, c2b)                          # (N, 8, 8, 16)
        p2, win2, m2 = self._pool_relu(a2)                            # (N, 4, 4, 16)
        flat = p2.transpose(0, 3, 1, 2).reshape(n, -1)                # PyTorch's (C, H, W) flattening order
        h = flat @ f1w.T
        h += f1b
        np.maximum(h, 0, out=h)
        z = h @ f2w.T
        z += f2b
        z -= z.max(1, keepdims=True)
        e = np.exp(z)
        total = e.sum(1, keepdims=True)
        self.loss = np.log(total).mean() - z[self.rows, self.y].mean()
        e /= total
        e[self.rows, self.y] -= 1
        e *= 1.0 / n
        g_f2w, g_f2b = e.T @ h, e.sum(0)
        dh = e @ f2w
        dh *= h > 0
        g_f1w, g_f1b = dh.T @ flat, dh.sum(0)
        dflat = dh @ f1w
        dp2 = dflat.reshape(n, 16, 4, 4).transpose(0, 2, 3, 1)
        da2 = self._pool_relu_grad(dp2, p2, win2, m2).reshape(-1, c2w.shape[0])
        g_c2w = (da2.T @ rows2).reshape(c2w.shape)
        g_c2b = da2.sum(0)
        drows = (da2 @ c2w.reshape(c2w.shape[0], -1)).reshape(n, 8, 8, 6, 5, 5)
        dp1 = np.zeros_like(p1)
        for i in range(5):
            for j in range(5):
                dp1[:, i:i + 8, j:j + 8, :] += drows[..., i, j]
        da1 = self._pool_relu_grad(dp1, p1, win1, m1).reshape(-1, c1w.shape[0])
        g_c1w = (da1.T @ rows1).reshape(c1w.shape)
        g_c1b = da1.sum(0)
        return [g_c1w, g_c1b, g_c2w, g_c2b, g_f1w, g_f1b, g_f2w, g_f2b]


def make_cnn(quick: bool) -> Workload:
    rng = np.random.default_rng(0)
    shapes = [(6, 1, 5, 5), (6,), (16, 6, 5, 5), (16,), (120, 256), (120,), (10, 120), (10,)]
    arrays = []
    for s in shapes:
        fan_in = int(np.prod(s[1:])) if len(s) > 1 else 1
        arrays.append((rng.standard_normal(s) / np.sqrt(fan_in)).astype(np.float32) if len(s) > 1
                      else np.full(s, 0.01, np.float32))
    batch = 8 if quick else 64
    x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    hand = HandLeNet(arrays, x, y)

    def gg_params():
        return [gg.tensor(a, requires_grad=True) for a in arrays]

    data = _shared(x, y)
    steps = {"NumPy by hand (im2col)": hand.step,
             "graphgrad compiled (numpy)": _gg_step(gg.compile(lenet_loss), gg_params(), data),
             "graphgrad eager": _gg_step(lenet_loss, gg_params(), data)}
    torch = _optional("torch")
    if torch is not None:
        tf = torch.nn.functional

        def torch_lenet(c1w, c1b, c2w, c2b, f1w, f1b, f2w, f2b, x, y):
            h = tf.max_pool2d(tf.conv2d(x, c1w, c1b).relu(), 2)
            h = tf.max_pool2d(tf.conv2d(h, c2w, c2b).relu(), 2)
            h = tf.linear(h.reshape(h.shape[0], -1), f1w, f1b).relu()
            return tf.cross_entropy(tf.linear(h, f2w, f2b), y)
        steps[f"PyTorch {torch.__version__} eager"] = _torch_step(torch, torch_lenet, arrays, [x, y])
    return Workload("cnn", f"LeNet step: conv 1->6 5x5, pool, conv 6->16 5x5, pool, 256->120->10, batch {batch}, "
                    "28x28, float32, loss and gradients", steps, 2e-3, 1e-5,
                    _first_call(lenet_loss, gg_params(), data))


def _optional(name: str):
    from common import optional_jax, optional_torch

    return {"torch": optional_torch, "jax": optional_jax}[name]()


WORKLOADS = {"mlp": make_mlp, "rnn": make_rnn, "logreg": make_logreg, "tiny_chain": make_tiny_chain,
             "cnn": make_cnn}
