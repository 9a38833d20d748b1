"""Loss modules: thin wrappers that hold the options of the functions in ``nn.functional``."""
from __future__ import annotations

from . import functional as F
from .module import Module


class _Loss(Module):
    # (PyTorch's deprecated size_average and reduce keep their places: positional arguments mean what they mean there)
    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        reduction = F._legacy_reduction(size_average, reduce, reduction)
        F._check_reduction(reduction)
        self.reduction = reduction


class MSELoss(_Loss):
    """Mean squared error.

    >>> import graphgrad as gg
    >>> gg.nn.MSELoss()(gg.tensor([1.0, 3.0]), gg.tensor([0.0, 0.0]))
    tensor(5.)
    """

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities (apply a Sigmoid first, or use BCEWithLogitsLoss)."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits, computed stably (preferred to Sigmoid followed by BCELoss)."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean", pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class NLLLoss(_Loss):
    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class CrossEntropyLoss(NLLLoss):
    """Softmax cross-entropy of logits against class indices (or class probabilities).

    >>> import graphgrad as gg
    >>> loss = gg.nn.CrossEntropyLoss()(gg.zeros(2, 4), gg.tensor([1, 3]))
    >>> round(loss.item(), 4)
    1.3863
    """

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(weight, size_average, ignore_index, reduce, reduction)
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)


class SmoothL1Loss(_Loss):
    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class KLDivLoss(Module):
    """KL divergence of log-probabilities ``input`` from ``target`` (``reduction="batchmean"`` is the true KL)."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False):
        super().__init__()
        self.reduction = F._legacy_reduction(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input, target):
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class MarginRankingLoss(_Loss):
    """:func:`~graphgrad.nn.functional.margin_ranking_loss` as a module.

    >>> import graphgrad as gg
    >>> gg.nn.MarginRankingLoss(margin=0.1)(gg.tensor([1.0, 0.2]), gg.tensor([0.5, 0.4]), gg.tensor([1.0, 1.0]))
    tensor(0.1500)
    """

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.margin_ranking_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)


class HingeEmbeddingLoss(_Loss):
    """:func:`~graphgrad.nn.functional.hinge_embedding_loss` as a module.

    >>> import graphgrad as gg
    >>> gg.nn.HingeEmbeddingLoss()(gg.tensor([0.3, 0.4]), gg.tensor([1.0, -1.0]))
    tensor(0.4500)
    """

    def __init__(self, margin: float = 1.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input, target):
        return F.hinge_embedding_loss(input, target, margin=self.margin, reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """:func:`~graphgrad.nn.functional.soft_margin_loss` as a module.

    >>> import graphgrad as gg
    >>> gg.nn.SoftMarginLoss(reduction="sum")(gg.tensor([0.0, 0.0]), gg.tensor([1.0, -1.0]))
    tensor(1.3863)
    """

    def forward(self, input, target):
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_Loss):
    """:func:`~graphgrad.nn.functional.multilabel_soft_margin_loss` as a module (``weight``: a buffer).

    >>> import graphgrad as gg
    >>> gg.nn.MultiLabelSoftMarginLoss()(gg.tensor([[0.0, 2.0]]), gg.tensor([[1.0, 0.0]]))
    tensor(1.4100)
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)

    def forward(self, input, target):
        return F.multilabel_soft_margin_loss(input, target, weight=self.weight, reduction=self.reduction)


class PoissonNLLLoss(_Loss):
    """:func:`~graphgrad.nn.functional.poisson_nll_loss` as a module.

    >>> import graphgrad as gg
    >>> gg.nn.PoissonNLLLoss()(gg.tensor([0.0, 0.0]), gg.tensor([1.0, 3.0]))
    tensor(1.)
    """

    def __init__(self, log_input: bool = True, full: bool = False, size_average=None, eps: float = 1e-8,
                 reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input, target):
        return F.poisson_nll_loss(log_input, target, log_input=self.log_input, full=self.full, eps=self.eps,
                                  reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """:func:`~graphgrad.nn.functional.gaussian_nll_loss` as a module (keyword-only options, as PyTorch's).

    >>> import graphgrad as gg
    >>> gg.nn.GaussianNLLLoss()(gg.tensor([1.0, 2.0]), gg.tensor([0.0, 2.0]), gg.tensor([1.0, 1.0]))
    tensor(0.2500)
    """

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(reduction=reduction)
        self.full, self.eps = full, eps

    def forward(self, input, target, var):
        return F.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps, reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """:func:`~graphgrad.nn.functional.triplet_margin_loss` as a module; a non-positive ``margin`` is refused when
    the module is made, as PyTorch's.

    >>> import graphgrad as gg
    >>> a, p, n = gg.tensor([[0.0, 0.0]]), gg.tensor([[3.0, 4.0]]), gg.tensor([[1.0, 0.0]])
    >>> gg.nn.TripletMarginLoss(eps=0.0)(a, p, n)
    tensor(5.)
    """

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                 size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss: expected margin to be greater than 0, got {margin} instead")
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_loss(anchor, positive, negative, margin=self.margin, p=self.p, eps=self.eps,
                                     swap=self.swap, reduction=self.reduction)


class MultiMarginLoss(_Loss):
    """:func:`~graphgrad.nn.functional.multi_margin_loss` as a module (``weight``: a buffer).

    >>> import graphgrad as gg
    >>> gg.nn.MultiMarginLoss()(gg.tensor([[0.1, 0.2, 0.4, 0.8]]), gg.tensor([3]))
    tensor(0.3250)
    """

    def __init__(self, p: int = 1, margin: float = 1.0, weight=None, size_average=None, reduce=None,
                 reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        if p not in (1, 2):
            raise ValueError("only p == 1 and p == 2 supported")
        if weight is not None and weight.dim() != 1:
            raise ValueError(f"MultiMarginLoss: expected weight to be None or 1D tensor, got {weight.dim()}D "
                             "instead")
        self.register_buffer("weight", weight)
        self.p, self.margin = p, margin

    def forward(self, input, target):
        return F.multi_margin_loss(input, target, p=self.p, margin=self.margin, weight=self.weight,
                                   reduction=self.reduction)


class CosineEmbeddingLoss(_Loss):
    """:func:`~graphgrad.nn.functional.cosine_embedding_loss` as a module.

    >>> import graphgrad as gg
    >>> gg.nn.CosineEmbeddingLoss()(gg.tensor([[1.0, 0.0]]), gg.tensor([[1.0, 1.0]]), gg.tensor([1]))
    tensor(0.2929)
    """

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.cosine_embedding_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    """:func:`~graphgrad.nn.functional.multilabel_margin_loss` as a module.

    >>> import graphgrad as gg
    >>> gg.nn.MultiLabelMarginLoss()(gg.tensor([[0.1, 0.2, 0.4, 0.8]]), gg.tensor([[3, 0, -1, 1]]))
    tensor(0.8500)
    """

    def forward(self, input, target):
        return F.multilabel_margin_loss(input, target, reduction=self.reduction)
