"""What the worked examples share: a progress bar (tqdm when installed, plain lines otherwise) and a loss plot
(matplotlib when installed)."""
from __future__ import annotations

import os
from typing import Iterable, Iterator


def progress(steps: int, desc: str, enabled: bool = True) -> "Progress":
    """A progress bar over ``range(steps)``; ``.report(loss)`` shows the latest loss."""
    return Progress(steps, desc, enabled)


class Progress:
    def __init__(self, steps: int, desc: str, enabled: bool):
        self.steps, self.desc, self.enabled = steps, desc, enabled
        self._bar = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:  # optional (pip install tqdm): plain progress lines instead
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=steps, desc=desc, unit="step", dynamic_ncols=True)
        self._done = 0

    def __iter__(self) -> Iterator[int]:
        for step in range(self.steps):
            yield step
            self._done = step + 1
            if self._bar is not None:
                self._bar.update(1)
        if self._bar is not None:
            self._bar.close()

    def report(self, loss: float) -> None:
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        elif self.enabled and (self._done % max(self.steps // 10, 1) == 0 or self._done == self.steps - 1):
            print(f"  {self.desc} step {self._done + 1:5d}/{self.steps}  loss {loss:.4f}", flush=True)


def smooth(values: Iterable[float], window: int) -> list[float]:
    """Running mean over ``window`` steps: minibatch losses are noisy."""
    values, out, total = list(values), [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_losses(losses: list[float], path: str | None, title: str) -> str | None:
    """Write the loss curve to ``path`` (PNG) when matplotlib is installed; returns the path written, or None."""
    if not path:
        return None
    try:
        import matplotlib
    except ImportError:
        print(f"(no loss plot: matplotlib is not installed; pip install matplotlib to get {path})")
        return None
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(losses, color="#9ecae1", linewidth=0.8, label="minibatch loss")
    ax.plot(smooth(losses, max(len(losses) // 20, 1)), color="#08519c", linewidth=1.6, label="running mean")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
