"""nn.RNN / LSTM / GRU and their cells: PyTorch's equations (checked against NumPy written from PyTorch's
documented formulas), parameter names and shapes, state shapes, gradients (finite differences, float64) and
compiled against eager."""
import warnings

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn as nn
from graphgrad.utils.gradcheck import gradcheck, gradgradcheck

GATES = {"tanh": 1, "relu": 1, "lstm": 4, "gru": 3}


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_cell(mode, x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr=None):
    """One step, PyTorch's documented equations, gates in PyTorch's order."""
    gi = x @ w_ih.T + (b_ih if b_ih is not None else 0.0)
    gh = h @ w_hh.T + (b_hh if b_hh is not None else 0.0)
    H = w_ih.shape[0] // GATES[mode]
    if mode == "tanh":
        return np.tanh(gi + gh), None
    if mode == "relu":
        return np.maximum(gi + gh, 0.0), None
    if mode == "lstm":
        i, f = sigmoid(gi[:, :H] + gh[:, :H]), sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        g, o = np.tanh(gi[:, 2 * H:3 * H] + gh[:, 2 * H:3 * H]), sigmoid(gi[:, 3 * H:] + gh[:, 3 * H:])
        c_new = f * c + i * g
        h_new = o * np.tanh(c_new)
        return (h_new @ w_hr.T if w_hr is not None else h_new), c_new
    r = sigmoid(gi[:, :H] + gh[:, :H])
    z = sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    return (1 - z) * n + z * h, None


def np_rnn(mode, x, h0, c0, params, num_layers, bidirectional):
    """The multi-layer, optionally bidirectional, recurrence on (L, N, I) input with PyTorch's parameter names."""
    dirs = 2 if bidirectional else 1
    layer_in, hs, cs = x, [], []
    for layer in range(num_layers):
        outs = []
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            p = {k: params.get(k + sfx) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")}
            h, c = h0[layer * dirs + d], (c0[layer * dirs + d] if c0 is not None else None)
            out = [None] * x.shape[0]
            for t in (range(x.shape[0] - 1, -1, -1) if d else range(x.shape[0])):
                h, c = np_cell(mode, layer_in[t], h, c, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"],
                               p["weight_hr"])
                out[t] = h
            outs.append(np.stack(out))
            hs.append(h)
            cs.append(c)
        layer_in = np.concatenate(outs, -1)
    return layer_in, np.stack(hs), (np.stack(cs) if c0 is not None else None)


def make(mode, *args, **kwargs):
    if mode in ("tanh", "relu"):
        return nn.RNN(*args, nonlinearity=mode, **kwargs)
    return {"lstm": nn.LSTM, "gru": nn.GRU}[mode](*args, **kwargs)


def params_np(module):
    return {name: p.detach().numpy() for name, p in module.named_parameters()}


# -- one step of each cell against NumPy ----------------------------------------------------------------
@pytest.mark.parametrize("mode", ["tanh", "relu", "lstm", "gru"])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_step_matches_pytorchs_equations(mode, bias):
    gg.manual_seed(1)
    cls = {"tanh": nn.RNNCell, "relu": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}[mode]
    kwargs = {"nonlinearity": mode} if mode in ("tanh", "relu") else {}
    cell = cls(3, 4, bias=bias, **kwargs).double()
    x, h, c = (np.random.default_rng(0).standard_normal(s) for s in ((5, 3), (5, 4), (5, 4)))
    p = params_np(cell)
    want_h, want_c = np_cell(mode, x, h, c, p["weight_ih"], p["weight_hh"], p.get("bias_ih"), p.get("bias_hh"))
    if mode == "lstm":
        got_h, got_c = cell(gg.tensor(x), (gg.tensor(h), gg.tensor(c)))
        np.testing.assert_allclose(got_c.detach().numpy(), want_c, rtol=1e-12, atol=1e-14)
    else:
        got_h = cell(gg.tensor(x), gg.tensor(h))
    np.testing.assert_allclose(got_h.detach().numpy(), want_h, rtol=1e-12, atol=1e-14)
    # unbatched input and the default zero state
    one = cell(gg.tensor(x[0]))
    one_h = one[0] if mode == "lstm" else one
    want_one, _ = np_cell(mode, x[:1], np.zeros((1, 4)), np.zeros((1, 4)), p["weight_ih"], p["weight_hh"],
                          p.get("bias_ih"), p.get("bias_hh"))
    assert one_h.shape == (4,)
    np.testing.assert_allclose(one_h.detach().numpy(), want_one[0], rtol=1e-12, atol=1e-14)


def test_gru_reset_gate_multiplies_the_hidden_bias():
    """PyTorch's n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), not tanh(W_in x + b_in + W_hn (r * h) + b_hn)."""
    cell = nn.GRUCell(1, 1).double()
    with gg.no_grad():
        for p in cell.parameters():
            p.zero_()
        cell.bias_hh[2] = 2.0   # b_hn
        cell.bias_ih[0] = -1.0  # r = sigmoid(-1)
    got = cell(gg.zeros(1, 1, dtype=gg.float64)).item()
    r, z = sigmoid(-1.0), 0.5
    assert got == pytest.approx((1 - z) * np.tanh(r * 2.0), rel=1e-12)


# -- whole layers against NumPy, shapes -------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["tanh", "relu", "lstm", "gru"])
@pytest.mark.parametrize("num_layers,bidirectional,batch_first", [(1, False, False), (2, True, False),
                                                                  (3, False, True), (2, True, True)])
def test_layer_matches_numpy_recurrence_with_pytorchs_shapes(mode, num_layers, bidirectional, batch_first):
    gg.manual_seed(2)
    L, N, I, H = 4, 3, 2, 5
    D = 2 if bidirectional else 1
    module = make(mode, I, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first).double()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((L, N, I))
    h0, c0 = rng.standard_normal((D * num_layers, N, H)), rng.standard_normal((D * num_layers, N, H))
    want_out, want_h, want_c = np_rnn(mode, x, h0, c0 if mode == "lstm" else None, params_np(module), num_layers,
                                      bidirectional)
    xin = gg.tensor(x.transpose(1, 0, 2) if batch_first else x)
    state = (gg.tensor(h0), gg.tensor(c0)) if mode == "lstm" else gg.tensor(h0)
    out, hn = module(xin, state)
    if mode == "lstm":
        hn, cn = hn
        assert cn.shape == (D * num_layers, N, H)
        np.testing.assert_allclose(cn.detach().numpy(), want_c, rtol=1e-12, atol=1e-13)
    assert out.shape == ((N, L, D * H) if batch_first else (L, N, D * H))
    assert hn.shape == (D * num_layers, N, H)  # batch_first never applies to the states
    np.testing.assert_allclose(out.detach().numpy().transpose(1, 0, 2) if batch_first else out.detach().numpy(), want_out,
                               rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(hn.detach().numpy(), want_h, rtol=1e-12, atol=1e-13)

    # unbatched: (L, I) in, (L, D*H) out, (D*layers, H) states; the same numbers as a batch of one
    out1, hn1 = module(gg.tensor(x[:, 0]))
    hn1 = hn1[0] if mode == "lstm" else hn1
    assert out1.shape == (L, D * H) and hn1.shape == (D * num_layers, H)
    zeros = np.zeros((D * num_layers, 1, H))
    ref_out, ref_h, _ = np_rnn(mode, x[:, :1], zeros, zeros if mode == "lstm" else None, params_np(module),
                               num_layers, bidirectional)
    np.testing.assert_allclose(out1.detach().numpy(), ref_out[:, 0], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(hn1.detach().numpy(), ref_h[:, 0], rtol=1e-12, atol=1e-13)


def test_lstm_projection_shapes_and_values():
    gg.manual_seed(4)
    lstm = nn.LSTM(3, 5, num_layers=2, proj_size=2, bidirectional=True).double()
    shapes = {name: tuple(p.shape) for name, p in lstm.named_parameters()}
    assert shapes["weight_hh_l0"] == (20, 2) and shapes["weight_hr_l0"] == (2, 5)
    assert shapes["weight_ih_l1_reverse"] == (20, 4) and shapes["weight_hr_l1_reverse"] == (2, 5)
    x = np.random.default_rng(5).standard_normal((4, 2, 3))
    out, (h, c) = lstm(gg.tensor(x))
    assert out.shape == (4, 2, 4) and h.shape == (4, 2, 2) and c.shape == (4, 2, 5)
    want_out, want_h, want_c = np_rnn("lstm", x, np.zeros((4, 2, 2)), np.zeros((4, 2, 5)), params_np(lstm), 2, True)
    np.testing.assert_allclose(out.detach().numpy(), want_out, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(c.detach().numpy(), want_c, rtol=1e-12, atol=1e-13)


# -- PyTorch's parameter names, shapes, initialisation, state_dict ----------------------------------------
def test_state_dict_keys_and_shapes_are_pytorchs():
    lstm = nn.LSTM(10, 20, num_layers=2, bidirectional=True)
    expected = []
    for layer, fan_in in ((0, 10), (1, 40)):
        for sfx in ("", "_reverse"):
            expected += [(f"weight_ih_l{layer}{sfx}", (80, fan_in)), (f"weight_hh_l{layer}{sfx}", (80, 20)),
                         (f"bias_ih_l{layer}{sfx}", (80,)), (f"bias_hh_l{layer}{sfx}", (80,))]
    assert [(k, tuple(v.shape)) for k, v in lstm.state_dict().items()] == expected
    assert [(k, tuple(v.shape)) for k, v in nn.GRU(3, 4, bias=False).state_dict().items()] == [
        ("weight_ih_l0", (12, 3)), ("weight_hh_l0", (12, 4))]
    assert [(k, tuple(v.shape)) for k, v in nn.LSTMCell(3, 4).state_dict().items()] == [
        ("weight_ih", (16, 3)), ("weight_hh", (16, 4)), ("bias_ih", (16,)), ("bias_hh", (16,))]
    assert list(nn.RNNCell(3, 4, bias=False).state_dict()) == ["weight_ih", "weight_hh"]
    assert len(lstm.all_weights) == 4 and lstm.all_weights[1][0] is lstm.weight_ih_l0_reverse
    assert repr(nn.GRU(3, 4, num_layers=2, batch_first=True, bidirectional=True)) == \
        "GRU(3, 4, num_layers=2, batch_first=True, bidirectional=True)"
    assert repr(nn.RNNCell(3, 4, nonlinearity="relu")) == "RNNCell(3, 4, nonlinearity=relu)"


def test_a_pytorch_state_dict_loads_and_computes_the_reference():
    """Weights laid out as PyTorch saves them (gates stacked i, f, g, o) load by name and give the NumPy
    reference's output."""
    rng = np.random.default_rng(6)
    shapes = {"weight_ih_l0": (8, 3), "weight_hh_l0": (8, 2), "bias_ih_l0": (8,), "bias_hh_l0": (8,)}
    saved = {k: rng.standard_normal(s) for k, s in shapes.items()}
    lstm = nn.LSTM(3, 2).double()
    result = lstm.load_state_dict({k: gg.tensor(v) for k, v in saved.items()})
    assert not result.missing_keys and not result.unexpected_keys
    x = rng.standard_normal((3, 1, 3))
    out, _ = lstm(gg.tensor(x))
    np.testing.assert_allclose(out.detach().numpy(), np_rnn("lstm", x, np.zeros((1, 1, 2)), np.zeros((1, 1, 2)), saved, 1,
                                                   False)[0], rtol=1e-12)


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU, nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_initialisation_is_uniform_within_one_over_sqrt_hidden_from_the_seeded_generator(cls):
    gg.manual_seed(7)
    first = [p.detach().numpy().copy() for p in cls(6, 16).parameters()]
    gg.manual_seed(7)
    again = [p.detach().numpy() for p in cls(6, 16).parameters()]
    values = np.concatenate([a.ravel() for a in first])
    bound = 1 / np.sqrt(16)
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.95 * bound
    assert abs(values.mean()) < 0.05 * bound  # centred: U(-b, b), not U(0, b)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


# -- gradients ------------------------------------------------------------------------------------------
def _with_params(module, names, tensors):
    for name, t in zip(names, tensors):
        module._parameters[name] = t


@pytest.mark.parametrize("mode", ["tanh", "relu", "lstm", "gru"])
def test_layer_gradcheck_input_state_and_parameters(mode):
    gg.manual_seed(8)
    module = make(mode, 2, 2, num_layers=2, bidirectional=True).double()
    # every direction and layer runs the same code: one parameter of each kind keeps finite differences quick
    names = ["weight_ih_l0", "weight_hh_l1_reverse", "bias_ih_l1", "bias_hh_l0_reverse"]
    originals = [getattr(module, n).detach().numpy().copy() for n in names]
    rng = np.random.default_rng(9)
    x, h0, c0 = rng.standard_normal((3, 1, 2)), rng.standard_normal((4, 1, 2)), rng.standard_normal((4, 1, 2))

    def f(x, h0, c0, *params):
        _with_params(module, names, params)
        out, state = module(x, (h0, c0) if mode == "lstm" else h0)
        h = state[0] + state[1] if mode == "lstm" else state
        return (out * out).sum() + (h * h.tanh()).sum()

    try:
        assert gradcheck(f, [x, h0, c0] + originals)
    finally:
        _with_params(module, names, [nn.Parameter(gg.tensor(p)) for p in originals])


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_cell_gradcheck(cls):
    gg.manual_seed(10)
    cell = cls(2, 3).double()
    names = [n for n, _ in cell.named_parameters()]
    rng = np.random.default_rng(11)
    x, h, c = rng.standard_normal((2, 2)), rng.standard_normal((2, 3)), rng.standard_normal((2, 3))

    def f(x, h, c, *params):
        _with_params(cell, names, params)
        if cls is nn.LSTMCell:
            h2, c2 = cell(x, (h, c))
            return (h2 * c2).sum()
        return (cell(x, h) ** 2).sum()

    assert gradcheck(f, [x, h, c] + [p.detach().numpy().copy() for p in cell.parameters()])


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_cell_second_derivatives(cls):
    gg.manual_seed(16)
    cell = cls(2, 2).double()
    rng = np.random.default_rng(17)

    def f(x, h):
        out = cell(x, (h, h * 0.5)) if cls is nn.LSTMCell else cell(x, h)
        return out[0] * out[1] if cls is nn.LSTMCell else out

    assert gradgradcheck(f, [rng.standard_normal((2, 2)), rng.standard_normal((2, 2))])


# -- compiled: the time loop unrolls, same loss and gradients as eager ----------------------------------------
@pytest.mark.parametrize("mode", ["tanh", "relu", "lstm", "gru"])
def test_compiled_layer_matches_eager(mode):
    gg.manual_seed(12)
    module = make(mode, 3, 4, num_layers=2, bidirectional=True, batch_first=True).double()
    x = gg.randn(2, 5, 3, dtype=gg.float64)
    h0 = gg.randn(4, 2, 4, dtype=gg.float64, requires_grad=True)
    c0 = gg.randn(4, 2, 4, dtype=gg.float64, requires_grad=True)

    def loss(x, h0, c0):
        out, state = module(x, (h0, c0) if mode == "lstm" else h0)
        h = state[0] * state[1] if mode == "lstm" else state
        return (out ** 2).mean() + h.sin().sum()

    compiled = gg.compile(loss)
    results = []
    for fn in (compiled, loss):
        module.zero_grad()
        h0.grad = c0.grad = None
        value = fn(x, h0, c0)
        value.backward()
        grads = [p.grad.numpy().copy() for p in module.parameters()] + [h0.grad.numpy().copy()]
        if mode == "lstm":
            grads.append(c0.grad.numpy().copy())
        results.append((value.item(), grads))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-10)
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert "weight_hh_l1_reverse" in compiled.source(x, h0, c0)  # parameters keep their names in the module


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_compiled_cell_loop_matches_eager(cls, assert_compiled_matches_eager):
    gg.manual_seed(13)
    cell = cls(3, 4).double()
    xs = gg.randn(4, 2, 3, dtype=gg.float64)

    def loss(xs):
        state = None
        for t in range(xs.shape[0]):  # a hand-written time loop over a cell, as tutorials write it
            state = cell(xs[t], state)
        h = state[0] + state[1] if cls is nn.LSTMCell else state
        return (h ** 2).sum()

    assert_compiled_matches_eager(cell, loss, xs)


# -- dropout between layers, modes -----------------------------------------------------------------------
def test_dropout_between_layers_only_while_training():
    gg.manual_seed(14)
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.GRU(2, 3, dropout=0.5)
    gru = nn.GRU(2, 3, num_layers=2, dropout=1.0).double()
    x = gg.randn(4, 2, 2, dtype=gg.float64)
    out_train, _ = gru(x)
    # with p = 1 the second layer sees zeros: its output is the recurrence on a zero input
    p = params_np(gru)
    top = {k.replace("_l1", "_l0"): v for k, v in p.items() if "_l1" in k}
    want, _, _ = np_rnn("gru", np.zeros((4, 2, 3)), np.zeros((1, 2, 3)), None, top, 1, False)
    np.testing.assert_allclose(out_train.detach().numpy(), want, rtol=1e-12)
    gru.eval()
    want_eval, _, _ = np_rnn("gru", x.detach().numpy(), np.zeros((2, 2, 3)), None, p, 2, False)
    np.testing.assert_allclose(gru(x)[0].detach().numpy(), want_eval, rtol=1e-12)


def test_dropout_mask_is_drawn_per_call_when_compiled():
    gg.manual_seed(15)
    lstm = nn.LSTM(2, 3, num_layers=2, dropout=0.5).double()
    x = gg.randn(3, 2, 2, dtype=gg.float64)
    f = gg.compile(lambda x: lstm(x)[0].sum())
    for seed in (1, 2):
        gg.manual_seed(seed)
        compiled = f(x).item()
        gg.manual_seed(seed)
        assert compiled == pytest.approx(lstm(x)[0].sum().item(), rel=1e-12)


# -- errors: PyTorch's messages -------------------------------------------------------------------------
def test_errors_name_the_problem_as_pytorch_does():
    lstm, gru, rnn = nn.LSTM(3, 4, num_layers=2), nn.GRU(3, 4), nn.RNN(3, 4)
    with pytest.raises(ValueError, match="LSTM: Expected input to be 2D or 3D, got 4D instead"):
        lstm(gg.randn(1, 2, 3, 3))
    with pytest.raises(ValueError, match="RNN: Expected input to be 2D or 3D, got 1D tensor instead"):
        rnn(gg.randn(3))
    with pytest.raises(RuntimeError, match=r"input.size\(-1\) must be equal to input_size. Expected 3, got 5"):
        gru(gg.randn(2, 1, 5))
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(1, 2, 4\), got \[1, 3, 4\]"):
        gru(gg.randn(5, 2, 3), gg.randn(1, 3, 4))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[1\] size \(2, 2, 4\), got \[2, 2, 5\]"):
        lstm(gg.randn(5, 2, 3), (gg.randn(2, 2, 4), gg.randn(2, 2, 5)))
    with pytest.raises(RuntimeError, match=r"For batched 3-D input, hx and cx should also be 3-D but got \(2-D, 3-D\)"):
        lstm(gg.randn(5, 2, 3), (gg.randn(2, 4), gg.randn(2, 2, 4)))
    with pytest.raises(RuntimeError, match="For unbatched 2-D input, hx should also be 2-D but got 3-D tensor"):
        gru(gg.randn(5, 3), gg.randn(1, 1, 4))
    with pytest.raises(ValueError, match="input must have the type torch.float32, got type torch.float64"):
        gru(gg.randn(5, 3, dtype=gg.float64))
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        nn.LSTM(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="Unknown nonlinearity 'sigmoid'. Select from 'tanh' or 'relu'."):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM, not RNN or GRU"):
        nn.GRU(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        nn.GRU(3, 0)
    with pytest.raises(ValueError, match="GRUCell: Expected input to be 1D or 2D, got 3D instead"):
        nn.GRUCell(3, 4)(gg.randn(1, 2, 3))
    with pytest.raises(RuntimeError, match="input has inconsistent input_size: got 5 expected 3"):
        nn.RNNCell(3, 4)(gg.randn(2, 5))
    with pytest.raises(RuntimeError, match="Input batch size 2 doesn't match hidden1 batch size 3"):
        nn.LSTMCell(3, 4)(gg.randn(2, 3), (gg.randn(2, 4), gg.randn(3, 4)))
    with pytest.raises(RuntimeError, match="hidden has inconsistent hidden_size: got 5, expected 4"):
        nn.GRUCell(3, 4)(gg.randn(2, 3), gg.randn(2, 5))


def test_rnn_positional_nonlinearity_and_flatten_parameters():
    rnn = nn.RNN(2, 3, 1, "relu")  # PyTorch's positional order: input_size, hidden_size, num_layers, nonlinearity
    assert rnn.nonlinearity == "relu" and rnn.mode == "RNN_RELU"
    rnn.flatten_parameters()  # a no-op kept for programs that call it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, h = rnn(gg.randn(4, 1, 2))
    assert (out.detach().numpy() >= 0).all()


def test_grad_fn_names_read_as_pytorchs_cpu_kernels():
    """What the NLP tutorial prints: the LSTM output's node is PyTorch's oneDNN layer, the states are stacks."""
    out, (h, c) = nn.LSTM(3, 3)(gg.randn(5, 1, 3))
    assert out.grad_fn.name() == "MkldnnRnnLayerBackward0"
    assert h.grad_fn.name() == c.grad_fn.name() == "StackBackward0"
    out, h = nn.GRU(3, 3)(gg.randn(5, 1, 3))
    assert out.grad_fn.name() == h.grad_fn.name() == "StackBackward0"
