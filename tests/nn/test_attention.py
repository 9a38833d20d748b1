"""nn.MultiheadAttention, TransformerEncoderLayer, TransformerEncoder and F.scaled_dot_product_attention against
NumPy written from PyTorch's documented equations; PyTorch's parameter names and mask conventions; gradients
(finite differences, float64) and compiled against eager."""
import math

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn as nn
import graphgrad.nn.functional as F
from graphgrad.utils.gradcheck import gradcheck, gradgradcheck


def softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def additive(mask):
    """PyTorch's MultiheadAttention masks: True = not allowed (-inf), floats are added."""
    if mask is None:
        return None
    return np.where(mask, -np.inf, 0.0) if mask.dtype == bool else mask


def np_mha(q, k, v, p, heads, attn_mask=None, key_padding_mask=None):
    """(L, N, E) inputs; returns (L, N, E) and the per-head weights (N, heads, L, S)."""
    E = q.shape[-1]
    hd = E // heads
    W, b = p["in_proj_weight"], p["in_proj_bias"]
    Q, K, V = q @ W[:E].T + b[:E], k @ W[E:2 * E].T + b[E:2 * E], v @ W[2 * E:].T + b[2 * E:]
    L, N, S = Q.shape[0], Q.shape[1], K.shape[0]
    attn_mask, key_padding_mask = additive(attn_mask), additive(key_padding_mask)
    out, weights = np.zeros((L, N, E)), np.zeros((N, heads, L, S))
    for n in range(N):
        for h in range(heads):
            cols = slice(h * hd, (h + 1) * hd)
            s = Q[:, n, cols] @ K[:, n, cols].T / math.sqrt(hd)
            if attn_mask is not None:
                s = s + (attn_mask if attn_mask.ndim == 2 else attn_mask[n * heads + h])
            if key_padding_mask is not None:
                s = s + key_padding_mask[n][None, :]
            w = softmax(s)
            weights[n, h] = w
            out[:, n, cols] = w @ V[:, n, cols]
    return out @ p["out_proj.weight"].T + p["out_proj.bias"], weights


def params_np(module):
    return {name: t.detach().numpy() for name, t in module.named_parameters()}


def mha64(E=8, heads=2, **kwargs):
    gg.manual_seed(0)
    module = nn.MultiheadAttention(E, heads, **kwargs).double()
    with gg.no_grad():  # non-zero biases, so a misplaced bias shows
        module.in_proj_bias.copy_(gg.randn(3 * E, dtype=gg.float64) * 0.1)
        module.out_proj.bias.copy_(gg.randn(E, dtype=gg.float64) * 0.1)
    return module


rng = np.random.default_rng(0)
L, S, N, E, HEADS = 3, 4, 2, 8, 2
CAUSAL_BOOL = np.triu(np.ones((L, S), dtype=bool), 1)
MASKS = {
    "none": (None, None),
    "bool attn_mask": (CAUSAL_BOOL, None),
    "float 3-D attn_mask": (rng.standard_normal((N * HEADS, L, S)), None),
    "bool key_padding_mask": (None, np.array([[False, False, True, True], [False, False, False, True]])),
    "float attn_mask and bool padding": (rng.standard_normal((L, S)), np.array([[False] * 3 + [True], [True] + [False] * 3])),
}


@pytest.mark.parametrize("masks", MASKS, ids=list(MASKS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_attention_matches_numpy(masks, batch_first):
    module = mha64(E, HEADS, batch_first=batch_first)
    r = np.random.default_rng(1)
    q, k, v = r.standard_normal((L, N, E)), r.standard_normal((S, N, E)), r.standard_normal((S, N, E))
    attn_mask, padding = MASKS[masks]
    want, want_w = np_mha(q, k, v, params_np(module), HEADS, attn_mask, padding)
    args = [gg.tensor(a.transpose(1, 0, 2) if batch_first else a) for a in (q, k, v)]
    kwargs = {"attn_mask": None if attn_mask is None else gg.tensor(attn_mask),
              "key_padding_mask": None if padding is None else gg.tensor(padding)}
    out, weights = module(*args, **kwargs)
    assert out.shape == ((N, L, E) if batch_first else (L, N, E)) and weights.shape == (N, L, S)
    np.testing.assert_allclose(out.detach().numpy().transpose(1, 0, 2) if batch_first else out.detach().numpy(),
                               want, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(weights.detach().numpy(), want_w.mean(1), rtol=1e-12, atol=1e-14)
    _, per_head = module(*args, **kwargs, average_attn_weights=False)
    np.testing.assert_allclose(per_head.detach().numpy(), want_w, rtol=1e-12, atol=1e-14)
    assert module(*args, **kwargs, need_weights=False)[1] is None


def test_unbatched_inputs_and_separate_key_value_dims():
    module = mha64(E, HEADS)
    q, kv = gg.randn(L, E, dtype=gg.float64), gg.randn(S, E, dtype=gg.float64)
    out, w = module(q, kv, kv)
    assert out.shape == (L, E) and w.shape == (L, S)
    batched, _ = module(q.unsqueeze(1), kv.unsqueeze(1), kv.unsqueeze(1))
    np.testing.assert_allclose(out.detach().numpy(), batched[:, 0].detach().numpy(), rtol=1e-12)
    _, per_head = module(q, kv, kv, average_attn_weights=False)
    assert per_head.shape == (HEADS, L, S)

    cross = nn.MultiheadAttention(4, 2, kdim=3, vdim=5)
    assert [(k, tuple(t.shape)) for k, t in cross.state_dict().items()] == [
        ("q_proj_weight", (4, 4)), ("k_proj_weight", (4, 3)), ("v_proj_weight", (4, 5)), ("in_proj_bias", (12,)),
        ("out_proj.weight", (4, 4)), ("out_proj.bias", (4,))]
    cross.double()
    p = params_np(cross)
    p["in_proj_weight"] = None
    r = np.random.default_rng(2)
    q, k, v = r.standard_normal((2, 1, 4)), r.standard_normal((3, 1, 3)), r.standard_normal((3, 1, 5))
    Q, K, V = q @ p["q_proj_weight"].T, k @ p["k_proj_weight"].T, v @ p["v_proj_weight"].T  # biases start at 0
    heads = [softmax(Q[:, 0, c] @ K[:, 0, c].T / math.sqrt(2)) @ V[:, 0, c] for c in (slice(0, 2), slice(2, 4))]
    want = np.concatenate(heads, -1) @ p["out_proj.weight"].T
    got, _ = cross(gg.tensor(q), gg.tensor(k), gg.tensor(v))
    np.testing.assert_allclose(got[:, 0].detach().numpy(), want, rtol=1e-12, atol=1e-14)


def test_state_dict_names_and_initialisation_are_pytorchs():
    gg.manual_seed(3)
    module = nn.MultiheadAttention(8, 4)
    assert [(k, tuple(t.shape)) for k, t in module.state_dict().items()] == [
        ("in_proj_weight", (24, 8)), ("in_proj_bias", (24,)), ("out_proj.weight", (8, 8)), ("out_proj.bias", (8,))]
    assert "NonDynamicallyQuantizableLinear(in_features=8, out_features=8, bias=True)" in repr(module)
    assert not module.in_proj_bias.detach().numpy().any() and not module.out_proj.bias.detach().numpy().any()
    w = module.in_proj_weight.detach().numpy()
    bound = math.sqrt(6 / (8 + 24))  # xavier_uniform_ of a (3E, E) matrix
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    extra = nn.MultiheadAttention(8, 4, add_bias_kv=True, bias=False)
    assert list(extra.state_dict()) == ["in_proj_weight", "bias_k", "bias_v", "out_proj.weight"]
    assert extra.bias_k.shape == (1, 1, 8)


@pytest.mark.parametrize("option", ["add_bias_kv", "add_zero_attn"])
def test_extra_key_options_match_numpy(option):
    module = mha64(4, 2, **{option: True})
    p = params_np(module)
    r = np.random.default_rng(4)
    q, k = r.standard_normal((2, 2, 4)), r.standard_normal((3, 2, 4))
    padding = np.array([[False, False, True], [False, False, False]])
    # the extra key/value enters after projection: add it to the reference's projected keys and values
    E = 4
    W, b = p["in_proj_weight"], p["in_proj_bias"]
    K, V = k @ W[E:2 * E].T + b[E:2 * E], k @ W[2 * E:].T + b[2 * E:]
    extra_k = p["bias_k"][0] if option == "add_bias_kv" else np.zeros((1, E))
    extra_v = p["bias_v"][0] if option == "add_bias_kv" else np.zeros((1, E))
    K = np.concatenate([K, np.broadcast_to(extra_k, (1, 2, E))], 0)
    V = np.concatenate([V, np.broadcast_to(extra_v, (1, 2, E))], 0)
    Q = q @ W[:E].T + b[:E]
    mask = additive(np.concatenate([padding, np.zeros((2, 1), bool)], 1))
    out = np.zeros((2, 2, E))
    for n in range(2):
        for h in range(2):
            c = slice(2 * h, 2 * h + 2)
            out[:, n, c] = softmax(Q[:, n, c] @ K[:, n, c].T / math.sqrt(2) + mask[n]) @ V[:, n, c]
    want = out @ p["out_proj.weight"].T + p["out_proj.bias"]
    got, w = module(gg.tensor(q), gg.tensor(k), gg.tensor(k), key_padding_mask=gg.tensor(padding))
    assert w.shape == (2, 2, 4)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-12, atol=1e-13)


def test_multihead_attention_gradcheck():
    module = mha64(4, 2)
    mask = gg.tensor(np.random.default_rng(5).standard_normal((2, 3)))
    padding = gg.tensor([[False, False, True]])

    def f(q, k, v, w):
        module._parameters["in_proj_weight"] = w
        out, weights = module(q, k, v, attn_mask=mask, key_padding_mask=padding)
        return (out * out).sum() + (weights * weights).sum()

    r = np.random.default_rng(6)
    w0 = module.in_proj_weight.detach().numpy().copy()
    try:
        assert gradcheck(f, [r.standard_normal((2, 1, 4)), r.standard_normal((3, 1, 4)),
                             r.standard_normal((3, 1, 4)), w0])
    finally:
        module.in_proj_weight = nn.Parameter(gg.tensor(w0))


# -- scaled_dot_product_attention ------------------------------------------------------------------------
def np_sdpa(q, k, v, keep=None, add=None, scale=None):
    s = q @ np.swapaxes(k, -1, -2) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    if keep is not None:
        s = np.where(keep, s, -np.inf)
    if add is not None:
        s = s + add
    return softmax(s) @ v


@pytest.mark.parametrize("case", ["plain", "causal", "bool mask", "float mask", "scale"])
def test_scaled_dot_product_attention_matches_numpy(case):
    r = np.random.default_rng(7)
    q, k, v = r.standard_normal((2, 3, 4, 5)), r.standard_normal((2, 3, 6, 5)), r.standard_normal((2, 3, 6, 7))
    keep = r.random((4, 6)) > 0.3
    keep[:, 0] = True
    add = r.standard_normal((2, 1, 4, 6))
    kwargs, ref = {}, {}
    if case == "causal":
        kwargs["is_causal"], ref["keep"] = True, np.tril(np.ones((4, 6), bool))
    if case == "bool mask":  # True = may attend (the opposite of MultiheadAttention's masks)
        kwargs["attn_mask"], ref["keep"] = gg.tensor(keep), keep
    if case == "float mask":
        kwargs["attn_mask"], ref["add"] = gg.tensor(add), add
    if case == "scale":
        kwargs["scale"], ref["scale"] = 0.3, 0.3
    got = F.scaled_dot_product_attention(gg.tensor(q), gg.tensor(k), gg.tensor(v), **kwargs)
    assert got.shape == (2, 3, 4, 7)
    np.testing.assert_allclose(got.detach().numpy(), np_sdpa(q, k, v, **ref), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("is_causal", [False, True])
def test_scaled_dot_product_attention_gradcheck_and_compiled(is_causal):
    r = np.random.default_rng(8)
    q, k, v = r.standard_normal((1, 3, 2)), r.standard_normal((1, 3, 2)), r.standard_normal((1, 3, 2))
    mask = None if is_causal else gg.tensor(r.standard_normal((3, 3)))

    def f(q, k, v):
        return (F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal) ** 2).sum()

    assert gradcheck(f, [q, k, v])
    tensors = [gg.tensor(a, requires_grad=True) for a in (q, k, v)]
    eager = f(*tensors)
    eager_grads = gg.autograd.grad(eager, tensors)
    compiled = gg.compile(f)(*tensors)
    compiled_grads = gg.autograd.grad(compiled, tensors)
    assert compiled.item() == pytest.approx(eager.item(), rel=1e-10)
    for a, b in zip(compiled_grads, eager_grads):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)


def test_attention_second_derivatives():
    r = np.random.default_rng(18)
    q, k, v = r.standard_normal((1, 2, 2)), r.standard_normal((1, 3, 2)), r.standard_normal((1, 3, 2))
    assert gradgradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v), [q, k, v])
    module = mha64(2, 1)
    assert gradgradcheck(lambda q, k: module(q, k, k)[0], [r.standard_normal((2, 1, 2)), r.standard_normal((3, 1, 2))])


def test_scaled_dot_product_attention_dropout_and_errors():
    q = gg.randn(2, 3, 4)
    assert not F.scaled_dot_product_attention(q, q, q, dropout_p=1.0).numpy().any()
    with pytest.raises(RuntimeError, match="Explicit attn_mask should not be set when is_causal=True"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=gg.ones(3, 3).bool(), is_causal=True)


# -- TransformerEncoderLayer / TransformerEncoder ----------------------------------------------------------
def np_layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps) * w + b


def np_gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def np_encoder_layer(x, p, heads, activation, norm_first, attn_mask=None, padding=None, prefix=""):
    p = {k[len(prefix):]: v for k, v in p.items() if k.startswith(prefix)}
    mha = {k[len("self_attn."):]: v for k, v in p.items() if k.startswith("self_attn.")}
    act = (lambda z: np.maximum(z, 0)) if activation == "relu" else np_gelu

    def sa(z):
        return np_mha(z, z, z, mha, heads, attn_mask, padding)[0]

    def ff(z):
        return act(z @ p["linear1.weight"].T + p["linear1.bias"]) @ p["linear2.weight"].T + p["linear2.bias"]

    n1 = lambda z: np_layer_norm(z, p["norm1.weight"], p["norm1.bias"])  # noqa: E731
    n2 = lambda z: np_layer_norm(z, p["norm2.weight"], p["norm2.bias"])  # noqa: E731
    if norm_first:
        x = x + sa(n1(x))
        return x + ff(n2(x))
    x = n1(x + sa(x))
    return n2(x + ff(x))


def _perturb_norms(module):
    with gg.no_grad():  # LayerNorm starts at (1, 0): move it so that a swapped norm shows
        for name, t in module.named_parameters():
            if "norm" in name or "bias" in name:
                t.add_(gg.randn(*t.shape, dtype=t.dtype) * 0.1)


@pytest.mark.parametrize("activation,norm_first,batch_first", [("relu", False, False), ("gelu", True, True)])
def test_encoder_layer_matches_numpy(activation, norm_first, batch_first):
    gg.manual_seed(9)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.1, activation=activation,
                                       norm_first=norm_first, batch_first=batch_first).double()
    _perturb_norms(layer)
    layer.eval()  # dropout off
    r = np.random.default_rng(10)
    x = r.standard_normal((3, 2, 8))
    mask = np.triu(np.ones((3, 3), bool), 1)
    padding = np.array([[False, False, True], [False, False, False]])
    want = np_encoder_layer(x, params_np(layer), 2, activation, norm_first, mask, padding)
    xin = gg.tensor(x.transpose(1, 0, 2) if batch_first else x)
    got = layer(xin, src_mask=gg.tensor(mask), src_key_padding_mask=gg.tensor(padding), is_causal=True)
    got = got.detach().numpy()
    np.testing.assert_allclose(got.transpose(1, 0, 2) if batch_first else got, want, rtol=1e-11, atol=1e-12)


def test_encoder_stacks_independent_copies_and_matches_numpy():
    gg.manual_seed(11)
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.0)
    encoder = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(4)).double()
    keys = list(encoder.state_dict())
    assert keys[:4] == ["layers.0.self_attn.in_proj_weight", "layers.0.self_attn.in_proj_bias",
                        "layers.0.self_attn.out_proj.weight", "layers.0.self_attn.out_proj.bias"]
    assert "layers.1.norm2.bias" in keys and keys[-2:] == ["norm.weight", "norm.bias"]
    assert encoder.layers[0].linear1.weight is not encoder.layers[1].linear1.weight
    _perturb_norms(encoder)
    p = params_np(encoder)
    x = np.random.default_rng(12).standard_normal((3, 2, 4))
    want = x
    for i in range(2):
        want = np_encoder_layer(want, p, 2, "relu", False, prefix=f"layers.{i}.")
    want = np_layer_norm(want, p["norm.weight"], p["norm.bias"])
    np.testing.assert_allclose(encoder(gg.tensor(x)).detach().numpy(), want, rtol=1e-11, atol=1e-12)


# -- compiled against eager ----------------------------------------------------------------------------------
def test_compiled_multihead_attention_matches_eager(assert_compiled_matches_eager):
    module = mha64(E, HEADS, batch_first=True)
    r = np.random.default_rng(13)
    x, kv = gg.tensor(r.standard_normal((N, L, E))), gg.tensor(r.standard_normal((N, S, E)))
    mask, padding = gg.tensor(CAUSAL_BOOL), gg.tensor(MASKS["bool key_padding_mask"][1])

    def loss(x, kv):
        out, w = module(x, kv, kv, attn_mask=mask, key_padding_mask=padding, average_attn_weights=False)
        return (out ** 2).mean() + (w * w).sum()

    compiled = assert_compiled_matches_eager(module, loss, x, kv)
    assert compiled(x, kv).item() == pytest.approx(loss(x, kv).item(), rel=1e-10)


@pytest.mark.parametrize("norm_first", [False, True])
def test_compiled_encoder_matches_eager(norm_first, assert_compiled_matches_eager):
    gg.manual_seed(14)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, activation="gelu", norm_first=norm_first,
                                       batch_first=True)
    encoder = nn.TransformerEncoder(layer, 2).double().eval()
    x = gg.randn(2, 3, 8, dtype=gg.float64)
    padding = gg.tensor([[False, False, True], [False, False, False]])

    def loss(x):
        return encoder(x, src_key_padding_mask=padding).tanh().sum()

    compiled = assert_compiled_matches_eager(encoder, loss, x)
    assert compiled(x).item() == pytest.approx(loss(x).item(), rel=1e-10)


def test_errors_are_pytorchs():
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(6, 4)
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(4, 2, activation="tanh")
    module = nn.MultiheadAttention(4, 2)
    x = gg.randn(3, 2, 4)
    with pytest.raises(AssertionError, match="was expecting embedding dimension of 4, but got 5"):
        module(gg.randn(3, 2, 5), x, x)
    with pytest.raises(RuntimeError, match=r"The shape of the 2D attn_mask is torch.Size\(\[3, 2\]\), but should be "
                                           r"\(3, 3\)."):
        module(x, x, x, attn_mask=gg.zeros(3, 2))
    with pytest.raises(AssertionError, match=r"expecting key_padding_mask shape of \(2, 3\), but got "
                                             r"torch.Size\(\[2, 4\]\)"):
        module(x, x, x, key_padding_mask=gg.zeros(2, 4).bool())
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        module(x, x, x, is_causal=True)
    with pytest.raises(AssertionError, match="query should be unbatched 2D or batched 3D tensor but received 4-D"):
        module(x[None], x[None], x[None])
    with pytest.raises(AssertionError, match=r"For batched \(3-D\) `query`, expected `key` and `value` to be 3-D but "
                                             "found 2-D and 3-D tensors respectively"):
        module(x, x[0], x)
    with pytest.raises(AssertionError, match=r"key shape torch.Size\(\[3, 2, 4\]\) does not match value shape "
                                             r"torch.Size\(\[2, 2, 4\]\)"):
        module(x, x, x[:2])


# -- decoder and the whole Transformer -----------------------------------------------------------------------
def np_decoder_layer(x, memory, p, heads, norm_first, tgt_mask=None, memory_padding=None, prefix=""):
    p = {k[len(prefix):]: v for k, v in p.items() if k.startswith(prefix)}
    sub = lambda name: {k[len(name) + 1:]: v for k, v in p.items() if k.startswith(name + ".")}  # noqa: E731
    norm = lambda i, z: np_layer_norm(z, p[f"norm{i}.weight"], p[f"norm{i}.bias"])  # noqa: E731

    def sa(z):
        return np_mha(z, z, z, sub("self_attn"), heads, tgt_mask)[0]

    def ca(z):
        return np_mha(z, memory, memory, sub("multihead_attn"), heads, None, memory_padding)[0]

    def ff(z):
        return np.maximum(z @ p["linear1.weight"].T + p["linear1.bias"], 0) @ p["linear2.weight"].T + p["linear2.bias"]

    if norm_first:
        x = x + sa(norm(1, x))
        x = x + ca(norm(2, x))
        return x + ff(norm(3, x))
    x = norm(1, x + sa(x))
    x = norm(2, x + ca(x))
    return norm(3, x + ff(x))


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_numpy(norm_first):
    gg.manual_seed(19)
    layer = nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, norm_first=norm_first).double().eval()
    _perturb_norms(layer)
    r = np.random.default_rng(20)
    tgt, memory = r.standard_normal((3, 2, 8)), r.standard_normal((5, 2, 8))
    mask = nn.Transformer.generate_square_subsequent_mask(3, dtype=gg.float64)
    padding = np.array([[False] * 4 + [True], [False] * 5])
    want = np_decoder_layer(tgt, memory, params_np(layer), 2, norm_first, mask.numpy(), padding)
    got = layer(gg.tensor(tgt), gg.tensor(memory), tgt_mask=mask, memory_key_padding_mask=gg.tensor(padding))
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-11, atol=1e-12)


def test_transformer_matches_numpy_and_has_pytorchs_layout():
    gg.manual_seed(21)
    model = nn.Transformer(d_model=4, nhead=2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=8,
                           dropout=0.0).double()
    keys = list(model.state_dict())
    assert keys[0] == "encoder.layers.0.self_attn.in_proj_weight"
    assert "encoder.norm.weight" in keys and "decoder.layers.0.multihead_attn.out_proj.bias" in keys
    assert keys[-2:] == ["decoder.norm.weight", "decoder.norm.bias"]
    bound = math.sqrt(6 / (8 + 4))  # every matrix xavier-uniform: linear1.weight is (8, 4)
    w = model.encoder.layers[1].linear1.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    _perturb_norms(model)
    p = params_np(model)
    r = np.random.default_rng(22)
    src, tgt = r.standard_normal((5, 2, 4)), r.standard_normal((3, 2, 4))
    mask = np.triu(np.full((3, 3), -np.inf), 1)
    memory = src
    for i in range(2):
        memory = np_encoder_layer(memory, p, 2, "relu", False, prefix=f"encoder.layers.{i}.")
    memory = np_layer_norm(memory, p["encoder.norm.weight"], p["encoder.norm.bias"])
    want = np_decoder_layer(tgt, memory, p, 2, False, mask, prefix="decoder.layers.0.")
    want = np_layer_norm(want, p["decoder.norm.weight"], p["decoder.norm.bias"])
    got = model(gg.tensor(src), gg.tensor(tgt), tgt_mask=nn.Transformer.generate_square_subsequent_mask(3).double())
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-11, atol=1e-12)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        model(gg.tensor(src), gg.tensor(tgt[:, :1]))
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal to d_model"):
        model(gg.tensor(src[..., :2]), gg.tensor(tgt[..., :2]))


def test_compiled_transformer_with_float_causal_mask_matches_eager(assert_compiled_matches_eager):
    gg.manual_seed(23)
    model = nn.Transformer(d_model=4, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=8,
                           batch_first=True).double().eval()
    src, tgt = gg.randn(2, 5, 4, dtype=gg.float64), gg.randn(2, 3, 4, dtype=gg.float64)
    mask = nn.Transformer.generate_square_subsequent_mask(3, dtype=gg.float64)

    def loss(src, tgt):  # -inf in the mask must not turn gradients into NaN
        return (model(src, tgt, tgt_mask=mask, tgt_is_causal=True) ** 2).sum()

    compiled = assert_compiled_matches_eager(model, loss, src, tgt)
    assert all(np.isfinite(p.grad.numpy()).all() for p in model.parameters())
    assert compiled(src, tgt).item() == pytest.approx(loss(src, tgt).item(), rel=1e-10)


# -- queries that may attend to no key at all ------------------------------------------------------------------
@pytest.mark.parametrize("mask_kind", ["bool", "float"])
def test_scaled_dot_product_attention_fully_masked_row_is_zero_with_finite_gradients(mask_kind, check_gradients):
    # PyTorch (2.5+) softmaxes the scores with _safe_softmax: a row of all -inf gives 0, not NaN, and gradient 0
    r = np.random.default_rng(30)
    q, k, v = r.standard_normal((2, 3, 2)), r.standard_normal((2, 4, 2)), r.standard_normal((2, 4, 3))
    keep = np.array([[True, False, True, True], [False, False, False, False], [True, True, False, True]])
    mask = gg.tensor(keep) if mask_kind == "bool" else gg.tensor(np.where(keep, 0.0, -np.inf))
    got = F.scaled_dot_product_attention(gg.tensor(q), gg.tensor(k), gg.tensor(v), attn_mask=mask).numpy()
    want = np_sdpa(q[:, [0, 2]], k, v, keep=keep[[0, 2]])
    np.testing.assert_allclose(got[:, [0, 2]], want, rtol=1e-12, atol=1e-13)
    assert (got[:, 1] == 0).all()

    w = gg.tensor(r.standard_normal((2, 3, 3)))
    f = lambda q, k, v: (F.scaled_dot_product_attention(q, k, v, attn_mask=mask) * w).sum()  # noqa: E731
    ts = [gg.tensor(a, requires_grad=True) for a in (q, k, v)]
    f(*ts).backward()
    # query row 1 contributes nothing, so its gradient is exactly 0
    assert np.isfinite(ts[1].grad.numpy()).all() and (ts[0].grad.numpy()[:, 1] == 0).all()
    check_gradients(f, [q, k, v])  # finite differences, eager and compiled, first and second order


def _padded_batch():
    r = np.random.default_rng(31)
    x = r.standard_normal((3, 2, 4))
    padding = np.array([[False, False, True], [True, True, True]])  # sample 1 entirely padding
    return x, padding


def test_multihead_attention_fully_padded_sample(check_gradients):
    # need_weights=False is PyTorch's scaled_dot_product_attention path: 0 attention output for a query with no
    # key left, so out_proj gives its bias; need_weights=True softmaxes plainly and gives NaN there, as PyTorch
    module = mha64(4, 2)
    x, padding = _padded_batch()
    pad = gg.tensor(padding)
    out, weights = module(gg.tensor(x), gg.tensor(x), gg.tensor(x), key_padding_mask=pad, need_weights=False)
    assert weights is None
    want = np_mha(x[:, :1], x[:, :1], x[:, :1], params_np(module), 2, key_padding_mask=padding[:1])[0]
    np.testing.assert_allclose(out.detach().numpy()[:, :1], want, rtol=1e-12, atol=1e-13)
    bias = module.out_proj.bias.detach().numpy()
    np.testing.assert_allclose(out.detach().numpy()[:, 1], np.broadcast_to(bias, (3, 4)), rtol=1e-12, atol=1e-15)
    out, weights = module(gg.tensor(x), gg.tensor(x), gg.tensor(x), key_padding_mask=pad)
    assert np.isnan(out.detach().numpy()[:, 1]).all() and np.isnan(weights.detach().numpy()[1]).all()
    assert np.isfinite(out.detach().numpy()[:, 0]).all()

    def f(q):
        return (module(q, q, q, key_padding_mask=pad, need_weights=False)[0] ** 2).sum()

    module.requires_grad_(False)  # the check differentiates in the input only
    check_gradients(f, [x])


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_fully_padded_sample_leaves_other_samples_and_gradients_alone(norm_first):
    # samples are independent: with the loss on sample 0 only, the parameter gradients are those of sample 0
    # alone; a fully padded sample 1 used to turn them all into NaN (0 * NaN in the softmax backward)
    gg.manual_seed(32)
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.0, norm_first=norm_first).double()
    _perturb_norms(layer)
    x, padding = _padded_batch()
    cot = gg.tensor(np.random.default_rng(33).standard_normal((3, 4)))

    def loss(x, pad):
        return (layer(x, src_key_padding_mask=pad)[:, 0] * cot).sum()

    layer.zero_grad()
    loss(gg.tensor(x[:, :1]), gg.tensor(padding[:1])).backward()
    alone = {name: p.grad.numpy().copy() for name, p in layer.named_parameters()}
    for fn in (loss, gg.compile(loss)):
        layer.zero_grad()
        xt = gg.tensor(x, requires_grad=True)
        value = fn(xt, gg.tensor(padding))
        value.backward()
        assert value.item() == pytest.approx(loss(gg.tensor(x[:, :1]), gg.tensor(padding[:1])).item(), rel=1e-12)
        for name, p in layer.named_parameters():
            np.testing.assert_allclose(p.grad.numpy(), alone[name], rtol=1e-10, atol=1e-13, err_msg=name)
        assert (xt.grad.numpy()[:, 1] == 0).all() and np.isfinite(xt.grad.numpy()).all()
