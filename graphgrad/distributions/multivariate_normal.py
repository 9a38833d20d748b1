"""The multivariate normal distribution."""
from __future__ import annotations

import math

from ..ir.api import TensorBase
from ..ir.registry import broadcast_shapes
from ..ops.linalg import cholesky, solve
from ..runtime.factories import eye
from . import constraints
from .distribution import Distribution
from .utils import _standard_normal, lazy_property

__all__ = ["MultivariateNormal"]


def _batch_mv(bmat: TensorBase, bvec: TensorBase) -> TensorBase:
    """Matrix-vector products over broadcast batches."""
    return (bmat @ bvec.unsqueeze(-1)).squeeze(-1)


def _triangular_solve(L: TensorBase, B: TensorBase) -> TensorBase:
    """``L⁻¹ B`` for lower-triangular ``L`` (``linalg.solve``: graphgrad has no triangular solver), the batches
    broadcast. ``L``'s upper triangle is read as zeros, as PyTorch's ``solve_triangular``: a general solve would
    also pass it a gradient (an optimizer step then made ``scale_tril`` no longer triangular)."""
    batch = broadcast_shapes(tuple(L.shape[:-2]), tuple(B.shape[:-2]))
    return solve(L.tril().expand(batch + tuple(L.shape[-2:])), B.expand(batch + tuple(B.shape[-2:])))


def _batch_mahalanobis(bL: TensorBase, bx: TensorBase) -> TensorBase:
    """The squared Mahalanobis distance ``xᵀ (L Lᵀ)⁻¹ x = |L⁻¹ x|²`` for a factor ``L``, batches broadcast."""
    return _triangular_solve(bL, bx.unsqueeze(-1)).squeeze(-1).pow(2).sum(-1)


def _precision_to_scale_tril(P: TensorBase) -> TensorBase:
    """The lower Cholesky factor of ``P⁻¹`` without inverting ``P``: with ``flip(P) = Lf Lfᵀ``, the factor is
    the inverse of ``flip(Lf)ᵀ`` (PyTorch's route)."""
    Lf = cholesky(P.flip(-2, -1))
    L_inv = Lf.flip(-2, -1).mT
    identity = eye(P.shape[-1], dtype=P.dtype)
    return _triangular_solve(L_inv, identity).tril()  # (a general solve leaves rounding above the diagonal)


class MultivariateNormal(Distribution):
    """The normal distribution over vectors (the last dimension of ``loc``), with exactly one of a positive
    definite ``covariance_matrix``, a positive definite ``precision_matrix``, or ``scale_tril``, a lower
    triangular factor of the covariance with a positive diagonal (the others are computed from it, by Cholesky
    factorization). ``rsample``, ``log_prob`` and ``entropy`` are differentiable in all of them.

    >>> import graphgrad as gg
    >>> from graphgrad.distributions import MultivariateNormal
    >>> d = MultivariateNormal(gg.zeros(2), gg.tensor([[4.0, 0.0], [0.0, 1.0]]))
    >>> d.scale_tril
    tensor([[2., 0.],
            [0., 1.]])
    >>> tuple(d.rsample((5,)).shape), d.log_prob(gg.zeros(2))
    ((5, 2), tensor(-2.5310))
    """

    arg_constraints = {"loc": constraints.real_vector, "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite, "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc: TensorBase, covariance_matrix: TensorBase | None = None,
                 precision_matrix: TensorBase | None = None, scale_tril: TensorBase | None = None,
                 validate_args: bool | None = None):
        if loc.ndim < 1:
            raise ValueError("loc must be at least one-dimensional.")
        if (covariance_matrix is not None) + (scale_tril is not None) + (precision_matrix is not None) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or scale_tril may be specified.")
        given = {"scale_tril": scale_tril, "covariance_matrix": covariance_matrix,
                 "precision_matrix": precision_matrix}
        name, matrix = next((k, v) for k, v in given.items() if v is not None)
        if matrix.ndim < 2:
            raise ValueError("scale_tril matrix must be at least two-dimensional, with optional leading batch "
                             "dimensions" if name == "scale_tril" else
                             f"{name} must be at least two-dimensional, with optional leading batch dimensions")
        batch_shape = broadcast_shapes(tuple(matrix.shape[:-2]), tuple(loc.shape[:-1]))
        setattr(self, name, matrix.expand(batch_shape + (-1, -1)))
        self.loc = loc.expand(batch_shape + (-1,))
        super().__init__(batch_shape, tuple(self.loc.shape[-1:]), validate_args=validate_args)
        # the factor from the matrix as given (not expanded to loc's batch); traced and validated, the checked
        # attribute when no expansion took place, so that the check is part of what the factor is computed from
        held = getattr(self, name)
        if tuple(held.shape) == tuple(matrix.shape):
            matrix = held
        if name == "scale_tril":
            self._unbroadcasted_scale_tril = matrix
        elif name == "covariance_matrix":
            self._unbroadcasted_scale_tril = cholesky(matrix)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(matrix)

    def expand(self, batch_shape, _instance=None) -> "MultivariateNormal":
        new = self._get_checked_instance(MultivariateNormal, _instance)
        batch_shape = tuple(batch_shape)
        loc_shape = batch_shape + tuple(self.event_shape)
        cov_shape = batch_shape + tuple(self.event_shape) + tuple(self.event_shape)
        new.loc = self.loc.expand(loc_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        for name in ("covariance_matrix", "scale_tril", "precision_matrix"):
            if name in self.__dict__:
                setattr(new, name, getattr(self, name).expand(cov_shape))
        super(MultivariateNormal, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _matrix_shape(self) -> tuple:
        return tuple(self._batch_shape) + tuple(self._event_shape) + tuple(self._event_shape)

    @lazy_property
    def scale_tril(self) -> TensorBase:
        return self._unbroadcasted_scale_tril.expand(self._matrix_shape())

    @lazy_property
    def covariance_matrix(self) -> TensorBase:
        L = self._unbroadcasted_scale_tril
        return (L @ L.mT).expand(self._matrix_shape())

    @lazy_property
    def precision_matrix(self) -> TensorBase:
        """``(L Lᵀ)⁻¹ = L⁻ᵀ L⁻¹`` (PyTorch's ``cholesky_inverse``)."""
        L = self._unbroadcasted_scale_tril
        L_inv = _triangular_solve(L, eye(L.shape[-1], dtype=L.dtype))
        return (L_inv.mT @ L_inv).expand(self._matrix_shape())

    @property
    def mean(self) -> TensorBase:
        return self.loc

    @property
    def mode(self) -> TensorBase:
        return self.loc

    @property
    def variance(self) -> TensorBase:
        return self._unbroadcasted_scale_tril.pow(2).sum(-1).expand(tuple(self._batch_shape) +
                                                                     tuple(self._event_shape))

    def rsample(self, sample_shape=()) -> TensorBase:
        """``loc + L eps`` with ``eps ~ N(0, I)``."""
        shape = self._extended_shape(sample_shape)
        eps = _standard_normal(shape, self.loc.dtype, self.loc.device)
        return self.loc + _batch_mv(self._unbroadcasted_scale_tril, eps)

    def _half_log_det(self) -> TensorBase:
        return self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def log_prob(self, value: TensorBase) -> TensorBase:
        """``-(k log(2 pi) + |L⁻¹ (x - loc)|²) / 2 - log det L``."""
        if self._validate_args:
            value = self._validate_sample(value)
        M = _batch_mahalanobis(self._unbroadcasted_scale_tril, value - self.loc)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + M) - self._half_log_det()

    def entropy(self) -> TensorBase:
        """``k (1 + log(2 pi)) / 2 + log det L``."""
        H = 0.5 * self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + self._half_log_det()
        return H if len(self._batch_shape) == 0 else H.expand(tuple(self._batch_shape))
