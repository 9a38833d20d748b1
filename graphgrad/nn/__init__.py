"""Neural-network building blocks on the Tensor API: ``Module``, ``Parameter``, layers, losses.

>>> import graphgrad as gg
>>> import graphgrad.nn as nn
>>> gg.manual_seed(0)  # doctest: +ELLIPSIS
<...Generator object at 0x...>
>>> model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
>>> loss = nn.MSELoss()(model(gg.randn(16, 2)), gg.zeros(16, 1))
>>> loss.backward()
>>> [tuple(p.grad.shape) for p in model.parameters()]
[(8, 2), (8,), (1, 8), (1,)]
"""
from . import functional, init
from .containers import ModuleDict, ParameterDict, ParameterList
from .layers import (CELU, ELU, GELU, SELU, AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout,
                     Embedding, EmbeddingBag, Flatten, Fold, Hardshrink, Hardsigmoid, Hardswish, Hardtanh, Identity,
                     LayerNorm, LeakyReLU, Linear, LogSigmoid, LogSoftmax, MaxPool2d, Mish, ReLU, ReLU6, Sigmoid, SiLU,
                     Softmax, Softplus, Softshrink, Softsign, Tanh, Tanhshrink, Unflatten, Unfold)
from .layers import (AdaptiveAvgPool1d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool1d, CircularPad1d, CircularPad2d,
                     ConstantPad1d, ConstantPad2d, Conv1d, Conv3d, ConvTranspose1d, ConvTranspose2d, MaxPool1d,
                     MaxPool3d, AvgPool3d, BatchNorm3d, ConvTranspose3d,
                     MaxUnpool1d, MaxUnpool2d, ReflectionPad1d, ReflectionPad2d, ReplicationPad1d, ReplicationPad2d,
                     ZeroPad1d, ZeroPad2d)
from .layers import (GLU, AlphaDropout, Bilinear, ChannelShuffle, CosineSimilarity, Dropout1d, Dropout2d, GroupNorm,
                     InstanceNorm1d, InstanceNorm2d, LocalResponseNorm, PairwiseDistance, PixelShuffle, PixelUnshuffle,
                     PReLU, RReLU, Softmax2d, Softmin, Threshold, Upsample, UpsamplingBilinear2d, UpsamplingNearest2d)
from .layers import (AdaptiveAvgPool3d, AdaptiveMaxPool3d, CircularPad3d, ConstantPad3d, Dropout3d, InstanceNorm3d,
                     LazyLinear, LPPool1d, LPPool2d, LPPool3d, ReflectionPad3d, ReplicationPad3d, RMSNorm, ZeroPad3d)
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss,
                   SmoothL1Loss)
from .loss import (GaussianNLLLoss, HingeEmbeddingLoss, MarginRankingLoss, MultiLabelSoftMarginLoss, MultiMarginLoss,
                   PoissonNLLLoss, SoftMarginLoss, TripletMarginLoss)
from .loss import CosineEmbeddingLoss, MultiLabelMarginLoss
from .module import Module, ModuleList, Sequential
from .parameter import Buffer, Parameter, UninitializedParameter
from .attention import (MultiheadAttention, Transformer, TransformerDecoder, TransformerDecoderLayer,
                        TransformerEncoder, TransformerEncoderLayer)
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from . import utils

__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d", "Conv2d",
           "CrossEntropyLoss", "Embedding", "LayerNorm", "MaxPool2d", "Dropout", "Flatten", "Identity", "L1Loss", "Linear", "LogSoftmax", "MSELoss",
           "Module", "ModuleList", "NLLLoss", "Parameter", "ReLU", "Sequential", "Sigmoid", "Softmax", "Tanh",
           "functional", "init", "utils", "ModuleDict", "ParameterDict", "ParameterList", "ELU", "GELU", "LeakyReLU", "SiLU",
           "Softplus", "Unflatten", "Unfold", "Fold", "HuberLoss", "KLDivLoss", "SmoothL1Loss",
           "RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell",
           "MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder",
           "TransformerDecoderLayer", "TransformerDecoder", "Transformer", "Hardtanh", "ReLU6", "Hardsigmoid",
           "Hardswish", "SELU", "CELU", "Mish", "Softsign", "Tanhshrink", "LogSigmoid", "Hardshrink", "Softshrink",
           "Conv1d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "MaxPool1d", "MaxPool3d", "AvgPool1d", "AvgPool3d", "BatchNorm3d", "ConvTranspose3d",
           "AdaptiveAvgPool1d",
           "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "ZeroPad1d", "ZeroPad2d", "ConstantPad1d", "ConstantPad2d",
           "ReflectionPad1d", "ReflectionPad2d", "ReplicationPad1d", "ReplicationPad2d", "CircularPad1d",
           "CircularPad2d"]
__all__ += ["PReLU", "GLU", "Softmin", "Threshold", "CosineSimilarity", "PairwiseDistance", "Bilinear", "GroupNorm",
            "InstanceNorm1d", "InstanceNorm2d", "LocalResponseNorm", "Dropout1d", "Dropout2d", "AlphaDropout", "RReLU",
            "Softmax2d", "ChannelShuffle", "PixelShuffle", "PixelUnshuffle", "Upsample", "UpsamplingNearest2d",
            "UpsamplingBilinear2d"]
__all__ += ["MaxUnpool1d", "MaxUnpool2d", "EmbeddingBag", "RMSNorm"]
__all__ += ["AdaptiveAvgPool3d", "AdaptiveMaxPool3d", "CircularPad3d", "ConstantPad3d", "Dropout3d", "InstanceNorm3d",
            "LazyLinear", "LPPool1d", "LPPool2d", "LPPool3d", "ReflectionPad3d", "ReplicationPad3d", "ZeroPad3d",
            "CosineEmbeddingLoss", "MultiLabelMarginLoss", "Buffer", "UninitializedParameter"]
__all__ += ["MarginRankingLoss", "HingeEmbeddingLoss", "SoftMarginLoss", "MultiLabelSoftMarginLoss", "PoissonNLLLoss",
            "GaussianNLLLoss", "TripletMarginLoss", "MultiMarginLoss"]
