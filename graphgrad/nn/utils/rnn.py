"""Variable-length sequences as PyTorch's ``torch.nn.utils.rnn`` has them: ``pad_sequence``, ``PackedSequence``,
``pack_padded_sequence`` / ``pad_packed_sequence``, ``pack_sequence`` / ``unpack_sequence`` and ``unpad_sequence``.

A ``PackedSequence`` stores the time steps one after another, each holding only the sequences still running
(``batch_sizes[t]`` rows, longest sequences first). ``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` accept one and run each
sequence to its own length. Packing and padding are built from differentiable ops (slices, ``cat``,
``index_select``), so gradients flow through them.

>>> import graphgrad as gg
>>> from graphgrad.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence
>>> padded = pad_sequence([gg.tensor([1.0, 2.0, 3.0]), gg.tensor([4.0])], batch_first=True)
>>> padded
tensor([[1., 2., 3.],
        [4., 0., 0.]])
>>> packed = pack_padded_sequence(padded, [3, 1], batch_first=True)
>>> packed.data, packed.batch_sizes
(tensor([1., 4., 2., 3.]), tensor([2, 1, 1]))
>>> pad_packed_sequence(packed, batch_first=True)[1]
tensor([3, 1])
"""
from __future__ import annotations

from collections import namedtuple
from typing import Optional, Sequence

import numpy as np

from ...ops.shape import cat, stack
from ...runtime import factories
from ...runtime.tensor import Tensor

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "unpad_sequence", "pack_sequence", "unpack_sequence"]

_PackedSequenceBase = namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])


def _long(values) -> Tensor:
    return Tensor._wrap(np.asarray(values, dtype=np.int64).reshape(-1))


def _ints(t) -> list:
    if t is None:
        return None
    return [int(v) for v in (t.tolist() if isinstance(t, Tensor) else np.asarray(t).reshape(-1).tolist())]


def invert_permutation(permutation: Optional[Tensor]) -> Optional[Tensor]:
    """The permutation that undoes ``permutation`` (None stays None)."""
    if permutation is None:
        return None
    order = np.asarray(_ints(permutation), dtype=np.int64)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size, dtype=np.int64)
    return _long(inverse)


class PackedSequence(_PackedSequenceBase):
    """A packed batch: ``data`` (sum(lengths), *), ``batch_sizes`` (how many sequences run at each time step, an
    int64 tensor), and ``sorted_indices`` / ``unsorted_indices`` when the batch was sorted by length
    (``enforce_sorted=False``). Made by :func:`pack_padded_sequence` or :func:`pack_sequence`."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is not None:
            return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)
        if not (isinstance(data, (list, tuple)) and len(data) == 2):
            raise TypeError("PackedSequence: expected (data, batch_sizes), or data and batch_sizes")
        return super().__new__(cls, data[0], data[1], sorted_indices, unsorted_indices)

    def _with_data(self, data) -> "PackedSequence":
        return self if data is self.data else type(self)(data, self.batch_sizes, self.sorted_indices,
                                                         self.unsorted_indices)

    def to(self, *args, **kwargs) -> "PackedSequence":
        """``data.to(...)``; ``batch_sizes`` stays an int64 CPU tensor, as in PyTorch."""
        return self._with_data(self.data.to(*args, **kwargs))

    def float(self) -> "PackedSequence":
        return self._with_data(self.data.float())

    def double(self) -> "PackedSequence":
        return self._with_data(self.data.double())

    def long(self) -> "PackedSequence":
        return self._with_data(self.data.long())

    def cpu(self) -> "PackedSequence":
        return self._with_data(self.data.cpu())

    def cuda(self, *args, **kwargs) -> "PackedSequence":
        return self._with_data(self.data.cuda(*args, **kwargs))

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda


def _batch_sizes_of(lengths: list) -> list:
    return [sum(1 for n in lengths if n > t) for t in range(lengths[0])] if lengths else []


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) whose sequence ``b`` has
    ``lengths[b]`` valid steps. With ``enforce_sorted`` the lengths must be decreasing; otherwise the batch is
    sorted here and the order is remembered.

    >>> import graphgrad as gg
    >>> x = gg.tensor([[1.0, 2.0, 0.0], [3.0, 4.0, 5.0]])
    >>> p = gg.nn.utils.rnn.pack_padded_sequence(x, [2, 3], batch_first=True, enforce_sorted=False)
    >>> p.data, p.batch_sizes, p.sorted_indices
    (tensor([3., 1., 4., 2., 5.]), tensor([2, 2, 1]), tensor([1, 0]))
    """
    lengths = _ints(lengths)
    sorted_indices = None
    if not enforce_sorted:
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])  # stable, as torch.sort on CPU
        lengths = [lengths[i] for i in order]
        sorted_indices = _long(order)
        input = input.index_select(0 if batch_first else 1, sorted_indices)
    if input.numel() == 0:
        raise RuntimeError("Cannot pack empty tensors.")
    if batch_first:
        input = input.transpose(0, 1)
    batch = input.shape[1]
    if len(lengths) != batch:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {len(lengths)} "
                           f"(batch_size={batch})")
    if lengths[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' that "
                           "is <= 0")
    if any(lengths[i + 1] > lengths[i] for i in range(batch - 1)):
        raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You "
                           "can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep "
                           "this requirement if you do not need ONNX exportability.")
    if lengths[0] > input.shape[0]:
        raise RuntimeError(f"pack_padded_sequence: a length of {lengths[0]} is longer than the padded input's "
                           f"{input.shape[0]} time steps")
    sizes = _batch_sizes_of(lengths)
    data = cat([input[t, :b] for t, b in enumerate(sizes)], 0)
    return PackedSequence(data, _long(sizes), sorted_indices, None)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: Optional[int] = None) -> tuple:
    """Undo :func:`pack_padded_sequence`: returns ``(padded, lengths)``, padded to the longest sequence (or to
    ``total_length``) with ``padding_value``, in the batch's original order.

    >>> import graphgrad as gg
    >>> p = gg.nn.utils.rnn.pack_sequence([gg.tensor([1.0, 2.0]), gg.tensor([3.0])])
    >>> gg.nn.utils.rnn.pad_packed_sequence(p, batch_first=True, padding_value=-1.0)
    (tensor([[ 1.,  2.],
            [ 3., -1.]]), tensor([2, 1]))
    """
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: expected a PackedSequence, got {type(sequence).__name__}")
    sizes = _ints(sequence.batch_sizes)
    max_seq_length = len(sizes)
    if total_length is not None:
        if total_length < max_seq_length:
            raise ValueError("Expected total_length to be at least the length of the longest sequence in input, but "
                             f"got total_length={total_length} and max sequence length being {max_seq_length}")
        max_seq_length = total_length
    data = sequence.data
    # traced data has no device: the padding is then a constant of the compiled function
    device = data.device if isinstance(data, Tensor) else None
    batch = sizes[0]
    rest = tuple(data.shape[1:])
    steps, offset = [], 0
    for b in sizes:
        step = data[offset:offset + b]
        offset += b
        if b < batch:
            step = cat([step, factories.full((batch - b,) + rest, padding_value, dtype=data.dtype,
                                             device=device)], 0)
        steps.append(step)
    for _ in range(max_seq_length - len(sizes)):
        steps.append(factories.full((batch,) + rest, padding_value, dtype=data.dtype, device=device))
    padded = stack(steps, 0)
    if batch_first:
        padded = padded.transpose(0, 1)
    lengths = [sum(1 for b in sizes if b > i) for i in range(batch)]
    if sequence.unsorted_indices is not None:
        unsorted = _ints(sequence.unsorted_indices)
        padded = padded.index_select(0 if batch_first else 1, sequence.unsorted_indices)
        lengths = [lengths[i] for i in unsorted]
    return padded, _long(lengths)


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack tensors of shape ``(L_i, *)`` into ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``), padding
    each to the longest with ``padding_value`` on ``padding_side`` ("right" or "left").

    >>> import graphgrad as gg
    >>> gg.nn.utils.rnn.pad_sequence([gg.ones(2), gg.ones(3)], batch_first=True, padding_side="left")
    tensor([[0., 1., 1.],
            [1., 1., 1.]])
    """
    if isinstance(sequences, Tensor):
        sequences = list(sequences.unbind(0))
    sequences = list(sequences)
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    for i, s in enumerate(sequences):
        if not isinstance(s, Tensor):
            raise TypeError(f"pad_sequence(): expected Tensor as element {i} in argument 0, but got "
                            f"{type(s).__name__}")
    trailing = tuple(sequences[0].shape[1:])
    max_len = max(s.shape[0] for s in sequences)
    rows = []
    for i, s in enumerate(sequences):
        if tuple(s.shape[1:]) != trailing:
            raise RuntimeError(f"pad_sequence(): the trailing dimensions of every sequence must match: "
                               f"sequence 0 has shape {list(sequences[0].shape)}, sequence {i} {list(s.shape)}")
        extra = max_len - s.shape[0]
        if extra:
            fill = factories.full((extra,) + trailing, padding_value, dtype=s.dtype, device=s.device)
            s = cat([s, fill] if padding_side == "right" else [fill, s], 0)
        rows.append(s)
    return stack(rows, 0 if batch_first else 1)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list:
    """The inverse of :func:`pad_sequence` (right padding): a list of ``(lengths[i], *)`` tensors."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [padded_sequences[i, :n] for i, n in enumerate(_ints(lengths))]


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of tensors ``(L_i, *)``: ``pack_padded_sequence(pad_sequence(sequences), lengths)``.

    >>> import graphgrad as gg
    >>> gg.nn.utils.rnn.pack_sequence([gg.tensor([1.0, 2.0, 3.0]), gg.tensor([4.0, 5.0])]).data
    tensor([1., 4., 2., 5., 3.])
    """
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The inverse of :func:`pack_sequence`: the list of tensors, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
