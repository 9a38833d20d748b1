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
