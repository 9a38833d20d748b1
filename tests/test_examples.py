"""The worked examples (graphgrad/examples/cnn.py, lstm.py) learn in a quick run, and ``graphgrad demo --example``
runs them."""
import os
import subprocess
import sys

import numpy as np
import pytest

from graphgrad.examples import _training, cnn, lstm

HERE = os.path.dirname(__file__)


def mean(xs):
    return sum(xs) / len(xs)


def test_cnn_learns_the_generated_digits(tmp_path, capsys):
    result = cnn.run(steps=150, plot=str(tmp_path / "cnn.png"), progress_bar=False, n_train=480, n_test=200)
    losses = result["losses"]
    assert len(losses) == 150 and abs(losses[0] - np.log(10)) < 0.3     # untrained: about uniform over 10 classes
    assert mean(losses[-20:]) < 0.8 * mean(losses[:20])
    assert result["accuracy_after"] > result["accuracy_before"] + 0.15
    assert open(result["plot"], "rb").read()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "test accuracy" in capsys.readouterr().out


def test_lstm_learns_the_paragraph(tmp_path, capsys):
    result = lstm.run(steps=60, plot=str(tmp_path / "lstm.png"), progress_bar=False, seq_len=16, hidden=48)
    losses = result["losses"]
    assert abs(losses[0] - np.log(len(result["chars"]))) < 0.3
    assert mean(losses[-10:]) < mean(losses[:10]) - 0.5
    assert result["sample"].startswith("It was the ") and len(result["sample"]) == len("It was the ") + 120
    assert set(result["sample"]) <= set(result["chars"])
    assert open(result["plot"], "rb").read()[:4] == b"\x89PNG"


def test_the_text_ships_with_the_package():
    text = lstm.load_text()
    assert text.startswith("It was the best of times") and len(text) > 500
    pyproject = open(os.path.join(HERE, "..", "pyproject.toml"), encoding="utf-8").read()
    assert '"examples/data/*.txt"' in pyproject


def test_digits_are_deterministic_balanced_and_distinct():
    images, labels = cnn.make_digits(200, seed=3)
    again, labels_again = cnn.make_digits(200, seed=3)
    np.testing.assert_array_equal(images, again)
    np.testing.assert_array_equal(labels, labels_again)
    assert images.shape == (200, 1, cnn.SIZE, cnn.SIZE) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1
    assert np.bincount(labels).tolist() == [20] * 10
    glyphs = {d: cnn.glyph(d).tobytes() for d in range(10)}
    assert len(set(glyphs.values())) == 10 and all(cnn.glyph(d).shape == (7, 5) for d in range(10))


def test_without_tqdm_or_matplotlib_plain_lines_and_no_plot(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)          # import tqdm now raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    bar = _training.progress(20, "demo")
    for step in bar:
        bar.report(1.0 / (step + 1))
    out = capsys.readouterr().out
    assert "demo step     1/20  loss 1.0000" in out and "demo step    20/20  loss 0.0500" in out
    assert _training.plot_losses([3.0, 2.0], str(tmp_path / "x.png"), "t") is None
    assert "matplotlib is not installed" in capsys.readouterr().out and not (tmp_path / "x.png").exists()


def test_smooth_is_a_running_mean():
    assert _training.smooth([1, 2, 3, 4], 2) == [1.0, 1.5, 2.5, 3.5]


def run_cli(*argv, cwd):
    return subprocess.run([sys.executable, "-m", "graphgrad.cli", *argv], capture_output=True, text=True, cwd=cwd,
                          env=dict(os.environ, PYTHONPATH=os.path.join(HERE, "..")))


@pytest.mark.parametrize("example,marker", [("cnn", "test accuracy"), ("lstm", "the model writes")])
def test_demo_example_runs_from_the_command_line(example, marker, tmp_path):
    r = run_cli("demo", "--example", example, "--steps", "3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert marker in r.stdout and (tmp_path / f"{example}-loss.png").exists()
    assert "3/3" in r.stderr   # tqdm's bar
    r = run_cli("demo", "--example", example, "--steps", "2", "--no-plot", "--no-progress", cwd=tmp_path / "..")
    assert r.returncode == 0 and "2/2" not in r.stderr + r.stdout


def test_demo_example_and_dask_together_is_a_usage_error(tmp_path):
    r = run_cli("demo", "--example", "cnn", "--dask", cwd=tmp_path)
    assert r.returncode == 2 and "--example and --dask" in r.stderr
