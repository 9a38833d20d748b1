"""The margin, Poisson, Gaussian and triplet losses of ``graphgrad.nn.functional`` and ``graphgrad.nn`` against
PyTorch 2.13, and softmax/log_softmax's ``dtype=``: values (literals read off PyTorch 2.13, in float64), eager
and ``gg.compile`` agreement, float64 gradients against finite differences, and PyTorch's argument errors (its
exception types and texts). The tests do not import torch."""
import re

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn as nn
import graphgrad.nn.functional as F
from graphgrad.utils.gradcheck import gradcheck

REDUCTIONS = ("none", "mean", "sum")
INT_INPUTS = {("multi_margin_loss", 1)}  # (function, input index): class indices, int64

# (id, function, inputs, indices of the inputs to gradcheck, options); multi_margin_loss's ``weight_at`` names
# the input passed as its weight
CASES = [
    ('margin_ranking', 'margin_ranking_loss',
     [[0.5, 1.59, 1.1, -1.1, -0.8], [1.49, -1.98, 1.28, 1.19, -0.13], [1.0, -1.0, 1.0, -1.0, 1.0]], [0, 1],
     {'margin': 0.2}),
    ('margin_ranking_bcast', 'margin_ranking_loss',
     [[[0.5, 1.59, 1.1], [1.49, -1.98, 1.28]], [[1.28, 1.19, -0.13], [1.1, -1.1, -0.8]], [[1.0], [-1.0]]], [0, 1],
     {}),
    ('hinge', 'hinge_embedding_loss', [[0.61, 0.56, 0.51, 0.89, 1.01], [1.0, -1.0, 1.0, -1.0, 1.0]], [0], {}),
    ('hinge_margin', 'hinge_embedding_loss', [[0.61, 0.56, 0.51, 0.89, 1.01], [1.0, -1.0, 1.0, -1.0, 1.0]], [0],
     {'margin': 0.5}),
    ('soft_margin', 'soft_margin_loss',
     [[[0.21, 1.98, 1.17], [0.49, 1.96, -1.14]], [[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0]]], [0], {}),
    ('multilabel', 'multilabel_soft_margin_loss',
     [[[-1.36, 0.45, -1.82, -1.86], [0.06, -0.14, 1.67, 0.52], [0.06, -0.01, -1.01, -1.95]],
      [[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 1.0]]],
     [0], {}),
    ('multilabel_weight', 'multilabel_soft_margin_loss',
     [[[-1.36, 0.45, -1.82, -1.86], [0.06, -0.14, 1.67, 0.52], [0.06, -0.01, -1.01, -1.95]],
      [[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 1.0]], [0.5, 1.0, 2.0, 1.5]],
     [0], {}),
    ('poisson_log', 'poisson_nll_loss', [[-1.23, 0.77, -1.2, -0.52, -1.99], [0.0, 1.0, 2.0, 3.5, 5.0]], [0], {}),
    ('poisson_log_full', 'poisson_nll_loss', [[-1.23, 0.77, -1.2, -0.52, -1.99], [0.0, 1.0, 2.0, 3.5, 5.0]], [0],
     {'full': True}),
    ('poisson_rate_full', 'poisson_nll_loss', [[2.51, 0.55, 0.88, 2.65, 1.58], [0.0, 1.0, 2.0, 3.5, 5.0]], [0],
     {'full': True, 'log_input': False}),
    ('poisson_rate_eps', 'poisson_nll_loss', [[2.51, 0.55, 0.88, 2.65, 1.58], [0.0, 1.0, 2.0, 3.5, 5.0]], [0],
     {'eps': 0.5, 'log_input': False}),
    ('gaussian', 'gaussian_nll_loss',
     [[[1.39, 0.56], [0.97, -1.63], [0.16, 0.03]], [[1.49, -0.55], [0.39, -1.76], [-0.45, -0.71]],
      [[0.47, 1.67], [0.88, 1.96], [1.26, 1.29]]],
     [0, 1, 2], {}),
    ('gaussian_full', 'gaussian_nll_loss',
     [[[1.39, 0.56], [0.97, -1.63], [0.16, 0.03]], [[1.49, -0.55], [0.39, -1.76], [-0.45, -0.71]],
      [[0.47, 1.67], [0.88, 1.96], [1.26, 1.29]]],
     [0, 1, 2], {'full': True}),
    ('gaussian_var_short', 'gaussian_nll_loss',
     [[[1.39, 0.56], [0.97, -1.63], [0.16, 0.03]], [[1.49, -0.55], [0.39, -1.76], [-0.45, -0.71]],
      [1.35, 1.42, 0.47]],
     [0, 1, 2], {}),
    ('gaussian_var_col', 'gaussian_nll_loss',
     [[[1.39, 0.56], [0.97, -1.63], [0.16, 0.03]], [[1.49, -0.55], [0.39, -1.76], [-0.45, -0.71]],
      [[0.99], [0.63], [0.92]]],
     [0, 1, 2], {}),
    ('gaussian_var_clamped', 'gaussian_nll_loss',
     [[[1.39, 0.56], [0.97, -1.63], [0.16, 0.03]], [[1.49, -0.55], [0.39, -1.76], [-0.45, -0.71]],
      [[1e-08, 0.5], [2.0, 1e-07], [0.3, 1.0]]],
     [0, 1], {'eps': 0.001}),
    ('triplet', 'triplet_margin_loss',
     [[[-1.61, 1.87, -1.14, 0.69], [-0.8, 1.5, 0.65, -1.47], [1.38, 1.78, 1.62, 0.28]],
      [[-1.42, -1.23, 1.71, 0.21], [-1.28, 1.54, 0.57, 0.28], [-0.49, -0.36, -1.04, -1.85]],
      [[1.5, -0.13, 0.19, -0.71], [1.01, -1.9, -0.51, -1.88], [-1.51, 1.87, 0.63, -0.29]]],
     [0, 1, 2], {}),
    ('triplet_p1', 'triplet_margin_loss',
     [[[-1.61, 1.87, -1.14, 0.69], [-0.8, 1.5, 0.65, -1.47], [1.38, 1.78, 1.62, 0.28]],
      [[-1.42, -1.23, 1.71, 0.21], [-1.28, 1.54, 0.57, 0.28], [-0.49, -0.36, -1.04, -1.85]],
      [[1.5, -0.13, 0.19, -0.71], [1.01, -1.9, -0.51, -1.88], [-1.51, 1.87, 0.63, -0.29]]],
     [0, 1, 2], {'margin': 0.5, 'p': 1}),
    ('triplet_swap', 'triplet_margin_loss',
     [[[-1.61, 1.87, -1.14, 0.69], [-0.8, 1.5, 0.65, -1.47], [1.38, 1.78, 1.62, 0.28]],
      [[1.5, -0.13, 0.19, -0.71], [1.01, -1.9, -0.51, -1.88], [-1.51, 1.87, 0.63, -0.29]],
      [[-1.42, -1.23, 1.71, 0.21], [-1.28, 1.54, 0.57, 0.28], [-0.49, -0.36, -1.04, -1.85]]],
     [0, 1, 2], {'margin': 2.0, 'swap': True}),
    ('multi_margin', 'multi_margin_loss',
     [[[0.09, 1.49, -0.62, 0.36], [0.73, -0.58, 0.08, 1.06], [1.64, -1.4, 1.73, -1.98]], [0, 3, 1]], [0], {}),
    ('multi_margin_p2', 'multi_margin_loss',
     [[[0.09, 1.49, -0.62, 0.36], [0.73, -0.58, 0.08, 1.06], [1.64, -1.4, 1.73, -1.98]], [0, 3, 1]], [0],
     {'margin': 0.5, 'p': 2}),
    ('multi_margin_weight', 'multi_margin_loss',
     [[[0.09, 1.49, -0.62, 0.36], [0.73, -0.58, 0.08, 1.06], [1.64, -1.4, 1.73, -1.98]], [0, 3, 1],
      [0.5, 1.0, 2.0, 1.5]],
     [0], {'weight_at': 2}),
    ('multi_margin_vector', 'multi_margin_loss', [[1.01, 1.24, -1.45, -0.32], 2], [0], {}),
]

# PyTorch 2.13's results for CASES, in float64: reduction 'none', 'mean', 'sum'
EXPECTED = {'gaussian': {'mean': 0.221536322558611,
              'none': [[-0.36687299426667597, 0.6253040287831942], [0.1272196778814212, 0.3407834611110088],
                       [0.26321459064042346, 0.33956917120229424]],
              'sum': 1.329217935351666},
 'gaussian_full': {'mean': 1.1404748557632836,
                   'none': [[0.5520655389379967, 1.544242561987867],
                            [1.0461582110860939, 1.2597219943156814],
                            [1.1821531238450962, 1.2585077044069668]],
                   'sum': 6.842849134579701},
 'gaussian_var_clamped': {'mean': 1.3584041642535976,
                          'none': [[1.5461223605089405, 0.8855264097200275],
                                   [0.43067359027997265, 4.996122360508947],
                                   [0.018180264503698584, 0.2738]],
                          'sum': 8.150424985521585},
 'gaussian_var_col': {'mean': 0.14201493497544768,
                      'none': [[2.5337123754334313e-05, 0.6172475593459767],
                               [0.035966397185847654, -0.2176050313855809],
                               [0.1605374564000397, 0.2559178911826484]],
                      'sum': 0.852089609852686},
 'gaussian_var_short': {'mean': 0.2430969300987275,
                        'none': [[0.1537559999288728, 0.6063856295585024],
                                 [0.2937791400319368, 0.1812791400319368],
                                 [0.018339771690770834, 0.20504189935034528]],
                        'sum': 1.458581580592365},
 'hinge': {'mean': 0.536,
           'none': [0.61, 0.43999999999999995, 0.51, 0.10999999999999999, 1.01],
           'sum': 2.68},
 'hinge_margin': {'mean': 0.426, 'none': [0.61, 0.0, 0.51, 0.0, 1.01], 'sum': 2.13},
 'margin_ranking': {'mean': 1.242,
                    'none': [1.19, 3.7700000000000005, 0.37999999999999995, 0.0, 0.8700000000000001],
                    'sum': 6.21},
 'margin_ranking_bcast': {'mean': 0.5416666666666666,
                          'none': [[0.78, 0.0, 0.0], [0.3899999999999999, 0.0, 2.08]],
                          'sum': 3.25},
 'multi_margin': {'mean': 1.1033333333333333,
                  'none': [0.99, 0.17249999999999996, 2.1475],
                  'sum': 3.3099999999999996},
 'multi_margin_p2': {'mean': 2.495025, 'none': [1.050725, 0.007224999999999994, 6.427125], 'sum': 7.485075},
 'multi_margin_vector': {'mean': 2.3200000000000003, 'none': 2.3200000000000003, 'sum': 2.3200000000000003},
 'multi_margin_weight': {'mean': 0.9670833333333334, 'none': [0.495, 0.25875, 2.1475], 'sum': 2.90125},
 'multilabel': {'mean': 1.0633465702906015,
                'none': [1.1716385823703193, 1.079561139151365, 0.9388399893501203],
                'sum': 3.1900397108718046},
 'multilabel_weight': {'mean': 1.3427247621720644,
                       'none': [1.2612078511862674, 1.573052928544312, 1.1939135067856137],
                       'sum': 4.028174286516193},
 'poisson_log': {'mean': 3.376893803358739,
                 'none': [0.2922925776808594, 1.3897662537849151, 2.701194211912202, 2.4145205479701946,
                          10.086695425445523],
                 'sum': 16.884469016793695},
 'poisson_log_full': {'mean': 4.947422592035319,
                      'none': [0.2922925776808594, 1.3897662537849151, 3.3530006965167383,
                               4.8445109551563394, 14.857542477037747],
                      'sum': 24.737112960176596},
 'poisson_rate_eps': {'mean': -0.04014104320103762,
                      'none': [2.51, 0.501209835830568, 0.23583300166177357, -1.3659085849313963,
                               -2.081839468566133],
                      'sum': -0.2007052160051881},
 'poisson_rate_full': {'mean': 2.2356129252416506,
                       'none': [2.51, 1.1478369825738022, 1.787473204897033, 1.6690316539851402,
                                4.063722784752278],
                       'sum': 11.178064626208252},
 'soft_margin': {'mean': 1.241738285815919,
                 'none': [[0.5936495810217837, 2.1093331750756126, 0.2703072058264326],
                          [0.9678641506062615, 2.0917809798514693, 1.4174946225139546]],
                 'sum': 7.450429714895514},
 'triplet': {'mean': 1.1331371974480031,
             'none': [1.0710726239226736, 0.0, 2.3283389684213356],
             'sum': 3.399411592344009},
 'triplet_p1': {'mean': 1.5866673333333337,
                'none': [0.0, 0.0, 4.760002000000001],
                'sum': 4.760002000000001},
 'triplet_swap': {'mean': 2.8547659562457404,
                  'none': [2.580739661536815, 4.226652138872235, 1.7569060683281705],
                  'sum': 8.56429786873722}}

# (id, function, inputs, options, indices of the int64 inputs, PyTorch 2.13's exception type and text)
ERRORS = [
    ('margin_ranking_reduction', 'margin_ranking_loss', [[1.0], [2.0], [1.0]], {'reduction': 'bad'}, (),
     'ValueError', 'bad is not a valid value for reduction'),
    ('margin_ranking_dims', 'margin_ranking_loss', [[[1.0, 2.0]], [1.0, 2.0], [1.0, 1.0]], {}, (), 'RuntimeError',
     'margin_ranking_loss : All input tensors should have same dimension but got sizes: input1: torch.Size([1, '
     '2]), input2: torch.Size([2]), target: torch.Size([2]) '),
    ('margin_ranking_sizes', 'margin_ranking_loss', [[1.0, 2.0, 3.0], [1.0, 2.0], [1.0, 1.0, 1.0]], {}, (),
     'RuntimeError', 'The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 0'),
    ('hinge_reduction', 'hinge_embedding_loss', [[1.0], [1.0]], {'reduction': 'avg'}, (), 'ValueError',
     'avg is not a valid value for reduction'),
    ('hinge_sizes', 'hinge_embedding_loss', [[1.0, 2.0, 3.0], [1.0, -1.0]], {}, (), 'RuntimeError',
     'The size of tensor a (2) must match the size of tensor b (3) at non-singleton dimension 0'),
    ('soft_margin_reduction', 'soft_margin_loss', [[1.0], [1.0]], {'reduction': 'avg'}, (), 'ValueError',
     'avg is not a valid value for reduction'),
    ('soft_margin_sizes', 'soft_margin_loss', [[1.0, 2.0, 3.0], [1.0, -1.0]], {}, (), 'RuntimeError',
     'The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 0'),
    ('soft_margin_grows', 'soft_margin_loss', [[1.0], [1.0, -1.0, 1.0]], {}, (), 'RuntimeError',
     "output with shape [1] doesn't match the broadcast shape [3]"),
    ('multilabel_reduction', 'multilabel_soft_margin_loss', [[[1.0, 2.0]], [[1.0, 0.0]]], {'reduction': 'avg'}, (),
     'ValueError', 'avg is not valid'),
    ('multilabel_sizes', 'multilabel_soft_margin_loss', [[[1.0, 2.0, 3.0]], [[1.0, 0.0]]], {}, (), 'RuntimeError',
     'The size of tensor a (2) must match the size of tensor b (3) at non-singleton dimension 1'),
    ('poisson_reduction', 'poisson_nll_loss', [[1.0], [1.0]], {'reduction': 'avg'}, (), 'ValueError',
     'avg is not a valid value for reduction'),
    ('poisson_sizes', 'poisson_nll_loss', [[1.0, 2.0, 3.0], [1.0, 2.0]], {}, (), 'RuntimeError',
     'The size of tensor a (2) must match the size of tensor b (3) at non-singleton dimension 0'),
    ('gaussian_reduction', 'gaussian_nll_loss', [[1.0], [1.0], [1.0]], {'reduction': 'avg'}, (), 'ValueError',
     'avg is not valid'),
    ('gaussian_var_size', 'gaussian_nll_loss',
     [[[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]],
      [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], [1.0, 1.0, 1.0]],
     {}, (), 'ValueError', 'var is of incorrect size'),
    ('gaussian_var_two_mismatches', 'gaussian_nll_loss',
     [[[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]],
      [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]],
     {}, (), 'ValueError', 'var is of incorrect size'),
    ('gaussian_var_rank', 'gaussian_nll_loss',
     [[[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]],
      [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]],
      [[[1.0], [1.0], [1.0]], [[1.0], [1.0], [1.0]], [[1.0], [1.0], [1.0]], [[1.0], [1.0], [1.0]]]],
     {}, (), 'ValueError', 'var is of incorrect size'),
    ('gaussian_var_negative', 'gaussian_nll_loss', [[1.0, 2.0], [1.0, 2.0], [1.0, -0.5]], {}, (), 'ValueError',
     'var has negative entry/entries'),
    ('gaussian_sizes', 'gaussian_nll_loss', [[[1.0, 2.0, 3.0]], [[1.0, 2.0]], [[1.0, 2.0, 3.0]]], {}, (),
     'RuntimeError', 'The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1'),
    ('triplet_reduction', 'triplet_margin_loss', [[[1.0]], [[1.0]], [[1.0]]], {'reduction': 'avg'}, (),
     'ValueError', 'avg is not a valid value for reduction'),
    ('triplet_margin', 'triplet_margin_loss', [[[1.0]], [[1.0]], [[1.0]]], {'margin': 0}, (), 'ValueError',
     'margin must be greater than 0, got 0'),
    ('triplet_negative_margin', 'triplet_margin_loss', [[[1.0]], [[1.0]], [[1.0]]], {'margin': -1.5}, (),
     'ValueError', 'margin must be greater than 0, got -1.5'),
    ('triplet_dims', 'triplet_margin_loss', [[[1.0, 2.0]], [1.0, 2.0], [[1.0, 2.0]]], {}, (), 'RuntimeError',
     'The anchor, positive, and negative tensors are expected to have the same number of dimensions, but got: '
     'anchor 2D, positive 1D, and negative 2D inputs'),
    ('triplet_sizes', 'triplet_margin_loss', [[[1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0]], [[1.0, 2.0]]], {}, (),
     'RuntimeError', 'The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1'),
    ('multi_margin_reduction', 'multi_margin_loss', [[[1.0, 2.0]], [0]], {'reduction': 'avg'}, (1,), 'ValueError',
     'avg is not a valid value for reduction'),
    ('multi_margin_p', 'multi_margin_loss', [[[1.0, 2.0]], [0]], {'p': 3}, (1,), 'ValueError',
     'only p == 1 and p == 2 supported'),
    ('multi_margin_target_size', 'multi_margin_loss', [[[1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [1.0, 2.0]], [0, 1, 1]],
     {}, (1,), 'RuntimeError',
     'multi_margin_loss: target tensor should be 1-D with size equal to the number of input samples (batch size). '
     'Expected target size [4], but got [3]. Input has shape [4, 2].'),
    ('multi_margin_target_rank', 'multi_margin_loss', [[[1.0, 2.0], [1.0, 2.0]], [[0], [1]]], {}, (1,),
     'RuntimeError',
     'multi_margin_loss: target tensor should be 1-D with size equal to the number of input samples (batch size). '
     'Expected target size [2], but got [2, 1]. Input has shape [2, 2].'),
    ('multi_margin_vector_target', 'multi_margin_loss', [[1.0, 2.0, 3.0], [0, 1]], {}, (1,), 'RuntimeError',
     'multi_margin_loss: target tensor should be 1-D with size equal to the number of input samples (batch size). '
     'Expected target size [1], but got [2]. Input has shape [3].'),
    ('multi_margin_empty', 'multi_margin_loss', [[[], []], [0, 1]], {}, (1,), 'RuntimeError',
     'Expected non-empty vector or matrix with optional 0-dim batch size, but got: [2, 0]'),
    ('multi_margin_rank3', 'multi_margin_loss', [[[[1.0]]], [0]], {}, (1,), 'RuntimeError',
     'Expected non-empty vector or matrix with optional 0-dim batch size, but got: [1, 1, 1]'),
    ('multi_margin_weight_size', 'multi_margin_loss', [[[1.0, 2.0, 3.0]], [0], [1.0, 1.0]], {'weight_at': 2}, (1,),
     'RuntimeError', 'inconsistent weight size, expected 3 but got [2]'),
    ('multi_margin_weight_rank', 'multi_margin_loss', [[[1.0, 2.0, 3.0]], [0], [[1.0, 1.0, 1.0]]], {'weight_at': 2},
     (1,), 'ValueError', 'weight must be one-dimensional'),
    ('multi_margin_target_dtype', 'multi_margin_loss', [[[1.0, 2.0, 3.0]], [0.0]], {}, (), 'RuntimeError',
     'expected scalar type Long but found Float'),
    ('multi_margin_target_high', 'multi_margin_loss', [[[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], [0, 3]], {}, (1,),
     'RuntimeError', 'target out of range'),
    ('multi_margin_target_negative', 'multi_margin_loss', [[[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], [-1, 0]], {}, (1,),
     'RuntimeError', 'target out of range'),
]


def _inputs(fn: str, args, dtype=gg.float64, requires_grad=()) -> list:
    return [gg.tensor(a, dtype=gg.int64) if (fn, i) in INT_INPUTS
            else gg.tensor(a, dtype=dtype, requires_grad=i in requires_grad) for i, a in enumerate(args)]


def _call(fn: str, tensors: list, options: dict, **more):
    options = dict(options, **more)
    weight_at = options.pop("weight_at", None)
    tensors = list(tensors)
    if weight_at is not None:  # (passed by keyword: its place in the signature differs from function to function)
        options["weight"] = tensors.pop(weight_at)
    return getattr(F, fn)(*tensors, **options)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_values_match_pytorch_eager_and_compiled(case, reduction):
    cid, fn, args, _, options = case
    expected = np.array(EXPECTED[cid][reduction])
    tensors = _inputs(fn, args)
    eager = _call(fn, tensors, options, reduction=reduction)
    assert eager.dtype == gg.float64
    np.testing.assert_allclose(eager.numpy(), expected, rtol=1e-12, atol=1e-14)
    compiled = gg.compile(lambda *xs: _call(fn, xs, options, reduction=reduction))(*tensors)
    np.testing.assert_allclose(compiled.numpy(), eager.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_float64_gradients_match_finite_differences(case, reduction):
    cid, fn, args, wrt, options = case
    tensors = _inputs(fn, args)

    def loss(*xs):
        full = list(tensors)
        for k, x in zip(wrt, xs):
            full[k] = x
        return _call(fn, full, options, reduction=reduction)

    assert gradcheck(loss, [gg.tensor(args[k], dtype=gg.float64, requires_grad=True) for k in wrt])


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_compiled_gradients_match_eager(case):
    cid, fn, args, wrt, options = case

    def total(*xs):
        return _call(fn, xs, options).sum()

    eager = _inputs(fn, args, requires_grad=wrt)
    total(*eager).backward()
    traced = _inputs(fn, args, requires_grad=wrt)
    gg.compile(total)(*traced).backward()
    for k in wrt:
        np.testing.assert_allclose(traced[k].grad.numpy(), eager[k].grad.numpy(), rtol=1e-12, atol=1e-15)


def test_float32_inputs_give_float32_losses():
    cid, fn, args, _, options = CASES[0]
    out = _call(fn, _inputs(fn, args, dtype=gg.float32), options)
    assert out.dtype == gg.float32
    np.testing.assert_allclose(out.item(), EXPECTED[cid]["mean"], rtol=1e-6)


@pytest.mark.parametrize("error", ERRORS, ids=[e[0] for e in ERRORS])
def test_argument_errors_are_pytorchs(error):
    cid, fn, args, options, ints, kind, text = error
    tensors = [gg.tensor(a, dtype=gg.int64 if i in ints else gg.float32) for i, a in enumerate(args)]
    with pytest.raises({"ValueError": ValueError, "RuntimeError": RuntimeError}[kind],
                       match="^" + re.escape(text) + "$"):
        _call(fn, tensors, options)


@pytest.mark.parametrize("labels", [[0, 3], [-1, 0]])
def test_multi_margin_targets_out_of_range_are_refused_when_compiled_too(labels):
    # PyTorch's "target out of range" in both modes (compiled code raised nll_loss's IndexError)
    scores = gg.tensor([[1.0, 2.0, 3.0]] * 2)
    with pytest.raises(RuntimeError, match="^target out of range$"):
        F.multi_margin_loss(scores, gg.tensor(labels))
    with pytest.raises(RuntimeError, match=r"^target out of range \(in the generated"):
        gg.compile(F.multi_margin_loss)(scores, gg.tensor(labels))


def test_a_negative_var_is_refused_when_compiled_too():
    # the check ran on eager tensors only: a compiled call with var -1 gave 499993.09
    x, t = gg.tensor([1.0]), gg.tensor([0.0])
    with pytest.raises(ValueError, match=r"^var has negative entry/entries \(in the generated"):
        gg.compile(F.gaussian_nll_loss)(x, t, gg.tensor([-1.0]))
    assert gg.compile(F.gaussian_nll_loss)(x, t, gg.tensor([0.0])).item() == pytest.approx(499993.09375)


def test_legacy_size_average_and_reduce_choose_the_reduction():
    x1, x2, y = gg.tensor([1.0, 2.0]), gg.tensor([2.0, 1.0]), gg.tensor([1.0, 1.0])
    with pytest.warns(UserWarning, match=re.escape("please use reduction='sum' instead")):
        out = F.margin_ranking_loss(x1, x2, y, 0.3, False)  # size_average=False: a sum
    assert out.item() == pytest.approx(1.3)


def test_gaussian_nll_loss_takes_a_number_for_var():
    x, t = gg.tensor([[1.0, 2.0], [0.5, -1.0]]), gg.tensor([[0.0, 2.0], [1.0, 1.0]])
    # PyTorch 2.13: F.gaussian_nll_loss(x, t, 0.5, reduction="none")
    np.testing.assert_allclose(F.gaussian_nll_loss(x, t, 0.5, reduction="none").numpy(),
                               [[0.6534264, -0.3465736], [-0.0965736, 3.6534264]], rtol=1e-6)
    with pytest.raises(ValueError, match="^var has negative entry/entries$"):
        F.gaussian_nll_loss(x, t, -0.5)


def test_gaussian_nll_loss_passes_the_gradient_through_the_clamp():
    # PyTorch clamps var under no_grad: the gradient in var is that of the loss at the clamped value
    var = gg.tensor([1e-8, 2.0], dtype=gg.float64, requires_grad=True)
    F.gaussian_nll_loss(gg.tensor([1.0, 2.0], dtype=gg.float64), gg.tensor([0.0, 1.0], dtype=gg.float64), var,
                        eps=0.1, reduction="sum").backward()
    # d/dv 0.5 (log v + d² / v) = 0.5 (1 / v - d² / v²) at v = 0.1 and 2.0 (PyTorch 2.13: [-45.0, 0.125])
    np.testing.assert_allclose(var.grad.numpy(), [-45.0, 0.125], rtol=1e-12)


# -- the modules: PyTorch 2.13's results for the same calls ------------------------------------------------------------
MODULES = [
    (lambda: nn.TripletMarginLoss(margin=0.5, p=1, swap=True, reduction="sum"),
     [[[0.0, 1.0], [2.0, 3.0]], [[1.0, 1.0], [2.0, 2.0]], [[0.0, 0.5], [4.0, 3.0]]], 0.9999979734420776),
    (lambda: nn.MultiMarginLoss(p=2, margin=0.5, weight=gg.tensor([1.0, 2.0, 3.0])),
     [[[0.1, 0.2, 0.4], [0.9, 0.3, 0.2]], [2, 1]], 0.5216665863990784),
    (lambda: nn.GaussianNLLLoss(full=True, eps=0.1, reduction="none"),
     [[1.0, 2.0], [0.0, 1.0], [0.05, 2.0]], [4.767645835876465, 1.5155121088027954]),
    (lambda: nn.PoissonNLLLoss(log_input=False, full=True, eps=0.1, reduction="sum"),
     [[0.5, 2.0], [3.0, 0.0]], 5.796558380126953),
    (lambda: nn.MultiLabelSoftMarginLoss(weight=gg.tensor([1.0, 2.0]), reduction="sum"),
     [[[0.0, 1.0], [2.0, -1.0]], [[1.0, 0.0], [0.0, 1.0]]], 4.036561012268066),
    (lambda: nn.MarginRankingLoss(margin=0.3, reduction="sum"), [[1.0, 2.0], [2.0, 1.0], [1.0, 1.0]],
     1.2999999523162842),
    (lambda: nn.HingeEmbeddingLoss(margin=2.0, reduction="sum"), [[1.0, 0.5], [-1.0, -1.0]], 2.5),
    (lambda: nn.SoftMarginLoss(reduction="none"), [[1.0, -1.0], [1.0, 1.0]], [0.3132616877555847, 1.31326162815094]),
]


@pytest.mark.parametrize("make, args, expected", MODULES, ids=[str(k) for k in range(len(MODULES))])
def test_modules_match_pytorch_eager_and_compiled(make, args, expected):
    module = make()
    inputs = [gg.tensor(a) for a in args]
    eager = module(*inputs)
    np.testing.assert_allclose(eager.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(gg.compile(module)(*inputs).numpy(), eager.numpy(), rtol=1e-6)


def test_module_argument_errors_are_pytorchs():
    with pytest.raises(ValueError, match=re.escape("TripletMarginLoss: expected margin to be greater than 0, got 0 "
                                                   "instead")):
        nn.TripletMarginLoss(margin=0)
    with pytest.raises(ValueError, match="^only p == 1 and p == 2 supported$"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match=re.escape("MultiMarginLoss: expected weight to be None or 1D tensor, got 2D "
                                                   "instead")):
        nn.MultiMarginLoss(weight=gg.ones(1, 3))
    with pytest.raises(ValueError, match="^avg is not a valid value for reduction$"):
        nn.SoftMarginLoss(reduction="avg")
    with pytest.raises(TypeError):  # keyword-only options, as PyTorch's
        nn.GaussianNLLLoss(True)


def test_multi_margin_module_keeps_its_weight_as_a_buffer():
    module = nn.MultiMarginLoss(weight=gg.tensor([1.0, 2.0]))
    assert [name for name, _ in module.named_buffers()] == ["weight"]


# -- softmax and log_softmax with dtype= ---------------------------------------------------------------------------
SOFTMAX_X = [[0.5, -1.25, 2.0], [3.0, 0.0, -0.75]]
# PyTorch 2.13: F.softmax(float32 x, 1, dtype=torch.float64)
SOFTMAX_1 = [[0.17682018210744427, 0.03072674032643643, 0.7924530775661193],
             [0.9317017745076629, 0.04638669994587317, 0.02191152554646392]]
# PyTorch 2.13: F.log_softmax(float32 x, 0, dtype=torch.float64)
LOG_SOFTMAX_0 = [[-2.5788897342925496, -1.501929081345373, -0.061967589003198625],
                 [-0.07888973429254957, -0.25192908134537295, -2.8119675890031988]]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_softmax_dtype_casts_the_input_first(compiled):
    def run(fn):
        return (gg.compile(fn) if compiled else fn)(gg.tensor(SOFTMAX_X))
    for out, expected in [(run(lambda x: F.softmax(x, 1, dtype=gg.float64)), SOFTMAX_1),
                          (run(lambda x: x.softmax(1, dtype=gg.float64)), SOFTMAX_1),
                          (run(lambda x: gg.softmax(x, 1, gg.float64)), SOFTMAX_1),
                          (run(lambda x: F.log_softmax(x, 0, dtype=gg.float64)), LOG_SOFTMAX_0),
                          (run(lambda x: x.log_softmax(0, gg.float64)), LOG_SOFTMAX_0)]:
        assert out.dtype == gg.float64
        # computed in float64 from the float32 input, as PyTorch's: not a float32 softmax cast afterwards
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-15)


def test_softmax_dtype_takes_integer_input():
    # PyTorch 2.13: F.softmax(torch.tensor([1, 2, 3]), 0, dtype=torch.float32)
    out = F.softmax(gg.tensor([1, 2, 3]), 0, dtype=gg.float32)
    assert out.dtype == gg.float32
    np.testing.assert_allclose(out.numpy(), [0.09003057330846786, 0.2447284758090973, 0.6652409434318542],
                               rtol=1e-6)


def test_softmax_dtype_gradient_returns_to_the_input_dtype():
    x = gg.tensor(SOFTMAX_X, requires_grad=True)
    (F.log_softmax(x, 1, dtype=gg.float64)[:, 0]).sum().backward()
    assert x.grad.dtype == gg.float32
    np.testing.assert_allclose(x.grad.numpy()[:, 0], 1 - np.array(SOFTMAX_1)[:, 0], rtol=1e-6)


def test_softmax_without_dim_warns_as_pytorch():
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax has been deprecated"):
        out = F.softmax(gg.tensor(SOFTMAX_X))
    np.testing.assert_allclose(out.numpy(), SOFTMAX_1, rtol=1e-6)  # dim 1 for a 2-D input
    with pytest.warns(UserWarning, match="Implicit dimension choice for log_softmax has been deprecated"):
        F.log_softmax(gg.tensor(SOFTMAX_X))


def test_multilabel_soft_margin_loss_is_exact_for_large_logits():
    # written with logsigmoid it went through softplus's threshold of 20: at 21 the gradient was 0.5, not PyTorch's
    x = gg.tensor([[21.0, -3.0]], dtype=gg.float64, requires_grad=True)
    loss = F.multilabel_soft_margin_loss(x, gg.tensor([[0.0, 1.0]], dtype=gg.float64))
    loss.backward()
    # PyTorch 2.13: 12.024293676166, grad [[0.499999999620872, -0.4762870634112166]]
    assert loss.item() == pytest.approx(12.024293676166, rel=1e-14)
    np.testing.assert_allclose(x.grad.numpy(), [[0.499999999620872, -0.4762870634112166]], rtol=1e-13)
