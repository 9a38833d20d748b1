"""The README's training example runs and prints what its comment says."""
import contextlib
import io
import os
import re

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def test_readme_training_example_prints_its_comment():
    blocks = re.findall(r"```python\n(.*?)```", open(README, encoding="utf-8").read(), re.S)
    block = next(b for b in blocks if "import graphgrad as torch" in b)
    expected = re.search(r"print\(loss\)\s+# (.*)", block).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "README.md", "exec"), {"__name__": "__readme__"})
    assert out.getvalue().strip() == expected


def test_readme_transforms_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", open(README, encoding="utf-8").read(), re.S)
    block = next(b for b in blocks if "gg.vmap(gg.grad(loss)" in b)
    scope = {"__name__": "__readme__"}
    exec(compile(block, "README.md", "exec"), scope)
    assert scope["per_example"].shape == (256, 4) and scope["H"].shape == (4, 4)
    import numpy as np

    np.testing.assert_allclose(scope["per_example"].mean(0) @ np.ones(4), scope["t"].mean(), rtol=1e-10)


def test_readme_control_flow_examples_run(tmp_path, monkeypatch):
    """Run from a file, as a user's script is (conversion reads the source): the printed module holds an if."""
    import sys

    import graphgrad as gg

    blocks = re.findall(r"```python\n(.*?)```", open(README, encoding="utf-8").read(), re.S)
    converted = next(b for b in blocks if "if h.sum() > 0:" in b)
    direct = next(b for b in blocks if "gg.scan(" in b)
    path = tmp_path / "readme_control_flow.py"
    path.write_text(converted)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        module = __import__("readme_control_flow")
    sys.modules.pop("readme_control_flow", None)
    assert out.getvalue().count("    if ") >= 2 and "else:" in out.getvalue()
    assert module.w.grad is not None
    namespace = {"gg": gg, "x": gg.randn(4, 3), "v": gg.randn(2, 2), "h0": gg.zeros(4, 2),
                 "xs": gg.randn(5, 4, 2)}
    exec(compile(direct, "README.md", "exec"), namespace)
    assert namespace["hs"].shape == (5, 4, 2) and namespace["s"].shape == ()
    assert float(namespace["x"].norm()) <= 1
