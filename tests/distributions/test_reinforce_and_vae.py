"""Smoke tests in the shape of PyTorch's examples: REINFORCE (examples/reinforcement_learning/reinforce.py:
``probs = policy(state); m = Categorical(probs); action = m.sample(); loss = -m.log_prob(action) * reward``) and a
VAE (``Normal(mu, std).rsample()``, ``kl_divergence(q, Normal(0, 1)).sum()``), eager and compiled: the gradient
is the one the formulas give, compiled equals eager for a seed, and a few steps of training improve the model."""
from __future__ import annotations

import numpy as np
import pytest

import graphgrad as torch  # (the examples' own spelling)
import graphgrad.nn as nn
import graphgrad.nn.functional as F
from graphgrad.distributions import Categorical, Normal, kl_divergence


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.affine1 = nn.Linear(4, 16)
        self.affine2 = nn.Linear(16, 2)

    def forward(self, x):
        return F.softmax(self.affine2(F.relu(self.affine1(x))), dim=1)


def test_reinforce_gradient_is_the_score_function():
    """-log softmax(s)[a] * r has the gradient r * (p - onehot(a)) in the scores s."""
    torch.manual_seed(0)
    scores = torch.tensor([[0.3, -0.2]], dtype=torch.float64, requires_grad=True)
    probs = F.softmax(scores, dim=1)
    m = Categorical(probs)
    action = m.sample()
    loss = -m.log_prob(action) * 2.5
    loss.backward()
    p = probs.detach().numpy()[0]
    np.testing.assert_allclose(scores.grad.numpy()[0], 2.5 * (p - np.eye(2)[action.item()]), rtol=1e-12)


def _bandit_states(rng, n):
    """Contextual two-armed bandit: arm 1 pays when the state's first coordinate is positive, arm 0 otherwise."""
    states = rng.standard_normal((n, 4))
    return states, (states[:, 0] > 0).astype(np.int64)


def _episode_loss(policy, states, best):
    """One batch of episodes, as reinforce.py's finish_episode: -log_prob * (reward - baseline), summed."""
    probs = policy(states)
    m = Categorical(probs)
    action = m.sample()
    reward = (action == best).double()
    advantage = reward - reward.mean()
    return (-m.log_prob(action) * advantage).sum(), reward.mean()


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_reinforce_learns_a_contextual_bandit(compiled):
    torch.manual_seed(1)
    policy = Policy().double()
    optimizer = torch.optim.Adam(policy.parameters(), lr=3e-2)
    step = torch.compile(_episode_loss) if compiled else _episode_loss
    rng = np.random.default_rng(1)
    rewards = []
    for _ in range(60):
        states, best = _bandit_states(rng, 64)
        loss, reward = step(policy, torch.tensor(states), torch.tensor(best))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        rewards.append(reward.item())
    # a random policy earns 0.5; this one, trained, nearly always picks the paying arm (the seed fixes the run)
    assert np.mean(rewards[:5]) < 0.7 and np.mean(rewards[-10:]) > 0.9


def test_reinforce_compiled_equals_eager_for_a_seed():
    def run(compiled):
        torch.manual_seed(2)
        policy = Policy().double()
        step = torch.compile(_episode_loss) if compiled else _episode_loss
        states, best = _bandit_states(np.random.default_rng(2), 8)
        results = []
        for _ in range(2):  # fresh actions at each call
            loss, _ = step(policy, torch.tensor(states), torch.tensor(best))
            policy.zero_grad()
            loss.backward()
            results.append((loss.item(), [p.grad.numpy().copy() for p in policy.parameters()]))
        return results

    eager, compiled = run(False), run(True)
    assert eager[0][0] != eager[1][0]
    for (loss_e, grads_e), (loss_c, grads_c) in zip(eager, compiled):
        assert loss_c == pytest.approx(loss_e, rel=1e-12, abs=1e-14)
        for ge, gc in zip(grads_e, grads_c):
            np.testing.assert_allclose(gc, ge, rtol=1e-10, atol=1e-14)


def test_reinforce_with_saved_log_probs_as_in_the_example():
    """The example's own loop: one state at a time, log-probabilities saved, then torch.cat(...).sum()."""
    torch.manual_seed(3)
    policy = Policy()
    saved_log_probs, rewards = [], []
    for state in np.random.default_rng(3).standard_normal((5, 4)).astype(np.float32):
        probs = policy(torch.from_numpy(state).float().unsqueeze(0))
        m = Categorical(probs)
        action = m.sample()
        saved_log_probs.append(m.log_prob(action))
        rewards.append(1.0 if action.item() == int(state[0] > 0) else 0.0)
    returns = torch.tensor(rewards)
    returns = (returns - returns.mean()) / (returns.std() + 1e-6)
    policy_loss = torch.cat([-log_prob * R for log_prob, R in zip(saved_log_probs, returns)]).sum()
    policy_loss.backward()
    assert all(p.grad is not None and bool(p.grad.isfinite().all()) for p in policy.parameters())


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.fc21 = nn.Linear(8, 2)
        self.fc22 = nn.Linear(8, 2)
        self.fc3 = nn.Linear(2, 8)
        self.fc4 = nn.Linear(8, 6)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        mu, logvar = self.fc21(h), self.fc22(h)
        q = Normal(mu, torch.exp(0.5 * logvar))
        z = q.rsample()
        recon = self.fc4(F.relu(self.fc3(z)))
        return recon, q


def vae_loss(model, x):
    recon, q = model(x)
    return F.mse_loss(recon, x, reduction="sum") + kl_divergence(q, Normal(0.0, 1.0)).sum()


def test_vae_gradient_through_rsample_and_kl():
    """d/d mu of (z^2 + KL(N(mu, s) || N(0, 1))) with z = mu + s eps: 2 z + mu; d/d s: 2 z eps + s - 1/s."""
    torch.manual_seed(4)
    mu = torch.tensor([0.3, -1.0], dtype=torch.float64, requires_grad=True)
    s = torch.tensor([0.5, 2.0], dtype=torch.float64, requires_grad=True)
    q = Normal(mu, s)
    z = q.rsample()
    ((z ** 2).sum() + kl_divergence(q, Normal(0.0, 1.0)).sum()).backward()
    zv, m, sv = z.detach().numpy(), mu.detach().numpy(), s.detach().numpy()
    eps = (zv - m) / sv
    np.testing.assert_allclose(mu.grad.numpy(), 2 * zv + m, rtol=1e-12)
    np.testing.assert_allclose(s.grad.numpy(), 2 * zv * eps + sv - 1 / sv, rtol=1e-12)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_vae_trains(compiled):
    torch.manual_seed(5)
    model = VAE().double()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    step = torch.compile(vae_loss) if compiled else vae_loss
    rng = np.random.default_rng(5)
    basis = rng.standard_normal((2, 6))
    data = torch.tensor(rng.standard_normal((64, 2)) @ basis)  # 6-D points on a 2-D plane
    losses = []
    for _ in range(150):
        loss = step(model, data)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])


def test_vae_compiled_equals_eager_for_a_seed():
    data = torch.tensor(np.random.default_rng(6).standard_normal((16, 6)))

    def run(compiled):
        torch.manual_seed(6)
        model = VAE().double()
        loss = (torch.compile(vae_loss) if compiled else vae_loss)(model, data)
        loss.backward()
        return loss.item(), [p.grad.numpy().copy() for p in model.parameters()]

    (loss_e, grads_e), (loss_c, grads_c) = run(False), run(True)
    assert loss_c == pytest.approx(loss_e, rel=1e-12)
    for ge, gc in zip(grads_e, grads_c):
        np.testing.assert_allclose(gc, ge, rtol=1e-10, atol=1e-13)


def test_the_docs_example_runs():
    """docs/distributions.md's example: its gradients are set and its compiled draws differ between calls."""
    import contextlib
    import io
    import os
    import re

    path = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "distributions.md")
    block = re.findall(r"```python\n(.*?)```", open(path, encoding="utf-8").read(), re.S)[0]
    scope = {"__name__": "__docs__"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(block, "docs/distributions.md", "exec"), scope)
    assert scope["scores"].grad is not None and scope["mu"].grad is not None and scope["logvar"].grad is not None
    first, second = scope["step"](scope["scores"]), scope["step"](scope["scores"])
    assert tuple(first.shape) == (3, 1) and first.dtype == torch.int64
