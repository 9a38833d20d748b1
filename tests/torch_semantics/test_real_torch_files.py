"""Checkpoints written by real PyTorch (2.13.0+cpu, `torch.save(model.state_dict(), path)`) load into graphgrad's
modules and give PyTorch's outputs, which were printed by PyTorch when the files were written. PyTorch itself is
not needed to run these tests."""
import os

import numpy as np

import graphgrad as torch
import graphgrad.nn as nn

DATA = os.path.join(os.path.dirname(__file__), "data")
X = torch.arange(6.0).reshape(2, 3)


def test_a_sequential_saved_by_pytorch_loads_and_computes_what_pytorch_computed(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model.load_state_dict(torch.load(os.path.join(DATA, "sequential_state_dict.pt")))
    expected = [[-0.12035463005304337, 0.04083634912967682], [-0.5221357941627502, -0.08113093674182892]]
    np.testing.assert_allclose(model(X).detach().numpy(), expected, rtol=1e-6)
    # and back: what graphgrad writes, graphgrad (and PyTorch, checked by hand) reads
    path = tmp_path / "again.pt"
    torch.save(model.state_dict(), path)
    again = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    again.load_state_dict(torch.load(path))
    np.testing.assert_array_equal(again(X).detach().numpy(), model(X).detach().numpy())


def test_an_lstm_saved_by_pytorch_loads_with_its_parameter_names():
    lstm = nn.LSTM(3, 5, batch_first=True)
    lstm.load_state_dict(torch.load(os.path.join(DATA, "lstm_state_dict.pt")))
    expected = [[[-0.16959, 0.182758, 0.049206, -0.061495, -0.105344],
                 [-0.115498, 0.575545, 0.00678, -0.028781, 0.134033]]]
    np.testing.assert_allclose(lstm(X.reshape(1, 2, 3))[0].detach().numpy(), expected, atol=2e-6)

