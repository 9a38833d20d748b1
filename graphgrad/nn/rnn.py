"""Recurrent layers with PyTorch's parameters, equations and shapes: ``RNN``, ``LSTM``, ``GRU`` and their cells.

Each is written with Tensor ops only, so it runs eagerly, records the ordinary gradient rules, and traces under
``@graphgrad.compile``, where the time loop unrolls into one graph (one step per time step and layer). The
parameters carry PyTorch's names (``weight_ih_l0``, ``bias_hh_l1_reverse``, ``weight_hr_l0`` for projections)
and shapes, with the gates stacked in PyTorch's order (LSTM: i, f, g, o; GRU: r, z, n), so a ``state_dict``
saved by PyTorch loads and computes the same outputs.

>>> import graphgrad as gg
>>> lstm = gg.nn.LSTM(input_size=3, hidden_size=4, num_layers=2, batch_first=True)
>>> output, (h_n, c_n) = lstm(gg.randn(5, 7, 3))   # (batch, time, features)
>>> output.shape, h_n.shape, c_n.shape
(torch.Size([5, 7, 4]), torch.Size([2, 5, 4]), torch.Size([2, 5, 4]))
>>> [name for name, _ in lstm.named_parameters()][:4]
['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0']
"""
from __future__ import annotations

import math
import numbers
import warnings

from ..ir.api import TensorBase, bind
from ..ops.shape import cat, stack
from ..runtime import factories
from ..runtime.tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter
from .utils.rnn import PackedSequence

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _zeros(like: TensorBase, shape: tuple) -> TensorBase:
    """Zeros of ``shape`` (as many dimensions as ``like``) in ``like``'s dtype and device; inside a trace, made
    by the graph (one element of ``like``, filled and broadcast) rather than captured as an array input."""
    if isinstance(like, Tensor):
        return factories.zeros(*shape, dtype=like.dtype, device=like.device)
    return bind("full_like", like[(slice(0, 1),) * like.ndim], value=0.0).expand(*shape)


def _step(mode: str, x_proj: TensorBase, h: TensorBase, c: TensorBase | None, w_hh: TensorBase,
          b_hh: TensorBase | None, w_hr: TensorBase | None = None) -> tuple:
    """One time step of a cell, given the input's projection ``x_proj = x @ w_ih.T + b_ih``: PyTorch's equations.
    Returns ``(h', c')`` (``c'`` is None except for LSTM)."""
    h_proj = h @ w_hh.t()
    if b_hh is not None:
        h_proj = h_proj + b_hh
    if mode == "RNN_TANH":
        return (x_proj + h_proj).tanh(), None
    if mode == "RNN_RELU":
        return (x_proj + h_proj).relu(), None
    if mode == "LSTM":
        i, f, g, o = (x_proj + h_proj).chunk(4, -1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        return (h @ w_hr.t() if w_hr is not None else h), c
    # GRU: the reset gate multiplies the hidden projection including its bias (PyTorch's, and cuDNN's, form)
    x_r, x_z, x_n = x_proj.chunk(3, -1)
    h_r, h_z, h_n = h_proj.chunk(3, -1)
    r = (x_r + h_r).sigmoid()
    z = (x_z + h_z).sigmoid()
    n = (x_n + r * h_n).tanh()
    return (1 - z) * n + z * h, None


def _named_stack(tensors: list) -> TensorBase:
    """``stack(tensors)``, its eager node shown as PyTorch's ``StackBackward0``."""
    return F._as_pytorch_names(stack(tensors, 0), "StackBackward0", *tensors)


def _project(x: TensorBase, w_ih: TensorBase, b_ih: TensorBase | None) -> TensorBase:
    out = x @ w_ih.t()
    return out + b_ih if b_ih is not None else out


class RNNBase(Module):
    """What ``RNN``, ``LSTM`` and ``GRU`` share: the parameters of every layer and direction, their
    initialisation U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), the checks of inputs and states, and the
    loop over layers, directions and time."""

    _label = "RNN"

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None):
        super().__init__()
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}")
        if not isinstance(hidden_size, int) or isinstance(hidden_size, bool):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        self._all_weights: list = []
        for layer in range(num_layers):
            for direction in range(directions):
                layer_input = input_size if layer == 0 else real_hidden * directions
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = [("weight_ih", (gate_size, layer_input)), ("weight_hh", (gate_size, real_hidden))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size > 0:
                    shapes += [("weight_hr", (proj_size, hidden_size))]
                names = []
                for name, shape in shapes:
                    setattr(self, name + suffix, Parameter(factories.empty(*shape, dtype=dtype, device=device)))
                    names.append(name + suffix)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """Kept for programs that call it (cuDNN's weight packing in PyTorch); nothing to do here."""

    @property
    def all_weights(self) -> list:
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def _layer_weights(self, layer: int, direction: int) -> tuple:
        suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        get = lambda name: getattr(self, name + suffix) if self.bias or "weight" in name else None  # noqa: E731
        return (get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"),
                getattr(self, "weight_hr" + suffix) if self.proj_size > 0 else None)

    # -- checks (PyTorch's messages) ------------------------------------------------------------------
    def _check_input(self, input: TensorBase) -> None:
        dtype = self.weight_ih_l0.dtype
        if input.dtype != dtype:
            raise ValueError(f"input must have the type {dtype}, got type {input.dtype}")
        if self.input_size != input.shape[-1]:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.shape[-1]}")

    def _check_hidden(self, hx: TensorBase, expected: tuple, msg: str = "Expected hidden size {}, got {}") -> None:
        if tuple(hx.shape) != expected:
            raise RuntimeError(msg.format(expected, list(hx.shape)))

    # -- running --------------------------------------------------------------------------------------
    def forward(self, input, hx=None):
        """``input``: (L, N, H_in), (N, L, H_in) with ``batch_first``, or unbatched (L, H_in); ``hx``: the initial
        state(s) of shape (D * num_layers, N, H_out) (zeros when omitted). Returns ``(output, h_n)``, or
        ``(output, (h_n, c_n))`` for LSTM."""
        lstm = self.mode == "LSTM"
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        if not isinstance(input, TensorBase):
            raise TypeError(f"{self._label}: expected a tensor or a PackedSequence input, got {type(input).__name__}")
        if input.ndim not in (2, 3):
            end = "D tensor instead" if self._label == "RNN" else "D instead"
            raise ValueError(f"{self._label}: Expected input to be 2D or 3D, got {input.ndim}{end}")
        batched = input.ndim == 3
        if not batched:
            input = input.unsqueeze(0 if self.batch_first else 1)
        if hx is not None:
            states = tuple(hx) if lstm else (hx,)
            dims = [s.ndim for s in states]
            want = 3 if batched else 2
            if any(d != want for d in dims):
                kind = "batched 3-D" if batched else "unbatched 2-D"
                if lstm:
                    raise RuntimeError(f"For {kind} input, hx and cx should also be {want}-D but got "
                                       f"({dims[0]}-D, {dims[1]}-D) tensors")
                raise RuntimeError(f"For {kind} input, hx should also be {want}-D but got {dims[0]}-D tensor")
            if not batched:
                states = tuple(s.unsqueeze(1) for s in states)
        if self.batch_first:
            input = input.transpose(0, 1)
        self._check_input(input)
        directions = 2 if self.bidirectional else 1
        steps, batch = input.shape[0], input.shape[1]
        out_size = self.proj_size if self.proj_size > 0 else self.hidden_size
        h_shape = (self.num_layers * directions, batch, out_size)
        c_shape = (self.num_layers * directions, batch, self.hidden_size)
        if hx is None:
            states = (_zeros(input, h_shape), _zeros(input, c_shape)) if lstm else (_zeros(input, h_shape),)
        elif lstm:
            self._check_hidden(states[0], h_shape, "Expected hidden[0] size {}, got {}")
            self._check_hidden(states[1], c_shape, "Expected hidden[1] size {}, got {}")
        else:
            self._check_hidden(states[0], h_shape)

        layer_input, h_last, c_last = input, [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                w_ih, w_hh, b_ih, b_hh, w_hr = self._layer_weights(layer, direction)
                index = layer * directions + direction
                h = states[0][index]
                c = states[1][index] if lstm else None
                x_proj = _project(layer_input, w_ih, b_ih)  # every time step's input projection at once
                hs = [None] * steps
                for t in (reversed(range(steps)) if direction == 1 else range(steps)):
                    h, c = _step(self.mode, x_proj[t], h, c, w_hh, b_hh, w_hr)
                    hs[t] = h
                outputs.append(_named_stack(hs))
                h_last.append(h)
                c_last.append(c)
            layer_input = outputs[0] if directions == 1 else cat(outputs, -1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        output, h_n = layer_input, _named_stack(h_last)
        c_n = _named_stack(c_last) if lstm else None
        if lstm and directions == 1:  # on CPU PyTorch runs each LSTM layer as one oneDNN kernel
            F._as_pytorch_names(output, "MkldnnRnnLayerBackward0")
        if self.batch_first:
            output = output.transpose(0, 1)
        if not batched:
            output = output.squeeze(0 if self.batch_first else 1)
            h_n = h_n.squeeze(1)
            c_n = c_n.squeeze(1) if lstm else None
        return (output, (h_n, c_n)) if lstm else (output, h_n)

    def _forward_packed(self, packed: PackedSequence, hx=None):
        """A packed batch: time step ``t`` runs only the ``batch_sizes[t]`` sequences still going (longest
        first), so each sequence stops at its own length and ``h_n`` holds each one's state after its last step
        (PyTorch's semantics). Returns the output as a PackedSequence laid out like the input."""
        lstm = self.mode == "LSTM"
        data, sizes = packed.data, [int(b) for b in packed.batch_sizes.tolist()]
        if data.ndim != 2:
            raise ValueError(f"{self._label}: packed input data must be 2-D (sum of lengths, input_size), got "
                             f"{data.ndim}-D")
        self._check_input(data)
        directions = 2 if self.bidirectional else 1
        batch = sizes[0]
        out_size = self.proj_size if self.proj_size > 0 else self.hidden_size
        h_shape = (self.num_layers * directions, batch, out_size)
        c_shape = (self.num_layers * directions, batch, self.hidden_size)
        if hx is None:
            states = (_zeros(data, h_shape), _zeros(data, c_shape)) if lstm else (_zeros(data, h_shape),)
        else:
            states = tuple(hx) if lstm else (hx,)
            if packed.sorted_indices is not None:  # the caller's states are in the batch's original order
                states = tuple(s.index_select(1, packed.sorted_indices) for s in states)
            if lstm:
                self._check_hidden(states[0], h_shape, "Expected hidden[0] size {}, got {}")
                self._check_hidden(states[1], c_shape, "Expected hidden[1] size {}, got {}")
            else:
                self._check_hidden(states[0], h_shape)
        offsets = [0]
        for b in sizes:
            offsets.append(offsets[-1] + b)
        layer_input, h_last, c_last = data, [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                w_ih, w_hh, b_ih, b_hh, w_hr = self._layer_weights(layer, direction)
                index = layer * directions + direction
                h0 = states[0][index]
                c0 = states[1][index] if lstm else None
                x_proj = _project(layer_input, w_ih, b_ih)
                hs = [None] * len(sizes)
                if direction == 0:
                    h, c = h0, c0
                    for t, b in enumerate(sizes):
                        # rows b: have ended; their h (and c) stay as they were after their last step
                        h_new, c_new = _step(self.mode, x_proj[offsets[t]:offsets[t + 1]], h[:b],
                                             c[:b] if lstm else None, w_hh, b_hh, w_hr)
                        hs[t] = h_new
                        h = h_new if b == h.shape[0] else cat([h_new, h[b:]], 0)
                        c = (c_new if b == c.shape[0] else cat([c_new, c[b:]], 0)) if lstm else None
                else:  # backwards in time: a sequence starts from its initial state at its own last step
                    h, c, running = None, None, 0
                    for t in reversed(range(len(sizes))):
                        b = sizes[t]
                        if b > running:
                            h = h0[running:b] if h is None else cat([h, h0[running:b]], 0)
                            if lstm:
                                c = c0[running:b] if c is None else cat([c, c0[running:b]], 0)
                            running = b
                        h, c = _step(self.mode, x_proj[offsets[t]:offsets[t + 1]], h, c, w_hh, b_hh, w_hr)
                        hs[t] = h
                outputs.append(cat(hs, 0))
                h_last.append(h)
                c_last.append(c)
            layer_input = outputs[0] if directions == 1 else cat(outputs, -1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        h_n = _named_stack(h_last)
        c_n = _named_stack(c_last) if lstm else None
        if packed.unsorted_indices is not None:  # states back in the caller's order
            h_n = h_n.index_select(1, packed.unsorted_indices)
            c_n = c_n.index_select(1, packed.unsorted_indices) if lstm else None
        output = PackedSequence(layer_input, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
        return (output, (h_n, c_n)) if lstm else (output, h_n)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (``nonlinearity="relu"``: ReLU).

    >>> import graphgrad as gg
    >>> rnn = gg.nn.RNN(10, 20, 2)
    >>> output, h_n = rnn(gg.randn(5, 3, 10), gg.randn(2, 3, 20))
    >>> output.shape, h_n.shape
    (torch.Size([5, 3, 20]), torch.Size([2, 3, 20]))
    """

    _label = "RNN"

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self_nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self_nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if self_nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{self_nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__("RNN_TANH" if self_nonlinearity == "tanh" else "RNN_RELU", *args, **kwargs)
        self.nonlinearity = self_nonlinearity

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text + (f", nonlinearity={self.nonlinearity}" if self.nonlinearity != "tanh" else "")


class LSTM(RNNBase):
    """Long short-term memory: gates i, f, g, o; ``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)``
    (times ``weight_hr`` when ``proj_size > 0``). Returns ``(output, (h_n, c_n))``.

    >>> import graphgrad as gg
    >>> lstm = gg.nn.LSTM(10, 20, 2)
    >>> h0, c0 = gg.randn(2, 3, 20), gg.randn(2, 3, 20)
    >>> output, (hn, cn) = lstm(gg.randn(5, 3, 10), (h0, c0))
    >>> output.shape, cn.shape
    (torch.Size([5, 3, 20]), torch.Size([2, 3, 20]))
    """

    _label = "LSTM"

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit: gates r, z, n with ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`` and
    ``h' = (1 - z) * n + z * h``.

    >>> import graphgrad as gg
    >>> gru = gg.nn.GRU(10, 20, 2, bidirectional=True)
    >>> output, h_n = gru(gg.randn(5, 3, 10))
    >>> output.shape, h_n.shape
    (torch.Size([5, 3, 40]), torch.Size([4, 3, 20]))
    """

    _label = "GRU"

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


class RNNCellBase(Module):
    """One step of a recurrent layer, with parameters ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``."""

    _mode = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = Parameter(factories.empty(num_chunks * hidden_size, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(factories.empty(num_chunks * hidden_size, hidden_size, dtype=dtype,
                                                   device=device))
        if bias:
            self.bias_ih = Parameter(factories.empty(num_chunks * hidden_size, dtype=dtype, device=device))
            self.bias_hh = Parameter(factories.empty(num_chunks * hidden_size, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nonlinearity = getattr(self, "nonlinearity", "tanh")
        return s + (f", nonlinearity={nonlinearity}" if nonlinearity != "tanh" else "")

    def _check(self, input: TensorBase, states: tuple, labels: tuple) -> None:
        if input.shape[1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[1]} expected {self.input_size}")
        for state, label in zip(states, labels):
            if input.shape[0] != state.shape[0]:
                raise RuntimeError(f"Input batch size {input.shape[0]} doesn't match hidden{label} batch size "
                                   f"{state.shape[0]}")
            if state.shape[1] != self.hidden_size:
                raise RuntimeError(f"hidden{label} has inconsistent hidden_size: got {state.shape[1]}, expected "
                                   f"{self.hidden_size}")

    def _prepare(self, input: TensorBase, hx: TensorBase | None) -> tuple:
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        if hx is not None and hx.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected hidden to be 1D or 2D, got {hx.ndim}D instead")
        batched = input.ndim == 2
        if not batched:
            input = input.unsqueeze(0)
        if hx is None:
            hx = _zeros(input, (input.shape[0], self.hidden_size))
        elif not batched:
            hx = hx.unsqueeze(0)
        self._check(input, (hx,), ("",))
        return input, hx, batched

    def forward(self, input, hx=None):
        """``input`` (N, H_in) or unbatched (H_in,); ``hx`` (N, H) or (H,), zeros when omitted; returns h'."""
        input, hx, batched = self._prepare(input, hx)
        h, _ = _step(self._mode, _project(input, self.weight_ih, self.bias_ih), hx, None, self.weight_hh,
                     self.bias_hh)
        return h if batched else h.squeeze(0)


class RNNCell(RNNCellBase):
    """``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (``nonlinearity="relu"``: ReLU).

    >>> import graphgrad as gg
    >>> gg.nn.RNNCell(10, 20)(gg.randn(3, 10)).shape
    torch.Size([3, 20])
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity
        self._mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n, as ``nn.GRU``).

    >>> import graphgrad as gg
    >>> gg.nn.GRUCell(10, 20)(gg.randn(3, 10), gg.randn(3, 20)).shape
    torch.Size([3, 20])
    """

    _mode = "GRU"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)


class LSTMCell(RNNCellBase):
    """One LSTM step (gates i, f, g, o, as ``nn.LSTM``); ``hx`` is ``(h, c)``; returns ``(h', c')``.

    >>> import graphgrad as gg
    >>> h, c = gg.nn.LSTMCell(10, 20)(gg.randn(3, 10))
    >>> h.shape, c.shape
    (torch.Size([3, 20]), torch.Size([3, 20]))
    """

    _mode = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        if input.ndim not in (1, 2):
            raise ValueError(f"LSTMCell: Expected input to be 1D or 2D, got {input.ndim}D instead")
        if hx is not None:
            for index, value in enumerate(hx):
                if value.ndim not in (1, 2):
                    raise ValueError(f"LSTMCell: Expected hx[{index}] to be 1D or 2D, got {value.ndim}D instead")
        batched = input.ndim == 2
        if not batched:
            input = input.unsqueeze(0)
        if hx is None:
            zeros = _zeros(input, (input.shape[0], self.hidden_size))
            hx = (zeros, zeros)
        else:
            hx = tuple(hx) if batched else (hx[0].unsqueeze(0), hx[1].unsqueeze(0))
        self._check(input, hx, ("0", "1"))
        h, c = _step("LSTM", _project(input, self.weight_ih, self.bias_ih), hx[0], hx[1], self.weight_hh,
                     self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))
