"""A small convolutional network learning to read digits: ``graphgrad demo --example cnn``.

The data set is made here, deterministically, with no download: each digit's 5x7 glyph from a tiny bitmap font,
scaled, shifted, its strokes thickened or thinned and noise added, as a 16x16 grey image, so the classes
overlap enough that the network has something to learn. The script is ordinary PyTorch code with the import
changed (``import graphgrad as torch``): ``nn.Conv2d``, ``nn.MaxPool2d``, ``DataLoader``, ``optim.Adam``.
"""
from __future__ import annotations

import numpy as np

import graphgrad as torch
import graphgrad.nn as nn
from graphgrad.utils.data import DataLoader, TensorDataset

from ._training import plot_losses, progress

SIZE = 16
# 5 columns x 7 rows per digit, '#' ink
FONT = {
    0: [" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "],
    1: ["  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "],
    2: [" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"],
    3: ["#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "],
    4: ["   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "],
    5: ["#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "],
    6: ["  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "],
    7: ["#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "],
    8: [" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "],
    9: [" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "],
}


def glyph(digit: int) -> np.ndarray:
    """The 7x5 bitmap of ``digit`` as 0/1 floats."""
    return np.array([[ch == "#" for ch in row] for row in FONT[digit]], dtype=np.float64)


def render(digit: int, rng: np.random.Generator) -> np.ndarray:
    """One SIZE x SIZE image of ``digit``: the glyph scaled by 1.4-2 (nearest neighbour), placed at a random
    offset, slanted a little, with stroke weight and pixel noise varied."""
    g = glyph(digit)
    scale = rng.uniform(1.4, 2.0)
    h, w = int(round(7 * scale)), int(round(5 * scale))
    rows = np.minimum((np.arange(h) / scale).astype(int), 6)
    cols = np.minimum((np.arange(w) / scale).astype(int), 4)
    big = g[rows][:, cols]
    slant = rng.uniform(-0.25, 0.25)  # shear: each row shifted in proportion to its height
    img = np.zeros((SIZE, SIZE))
    top = rng.integers(0, SIZE - h + 1)
    left0 = rng.integers(1, SIZE - w)
    for r in range(h):
        left = int(np.clip(left0 + round(slant * (h / 2 - r)), 0, SIZE - w))
        img[top + r, left:left + w] = np.maximum(img[top + r, left:left + w], big[r])
    if rng.random() < 0.5:  # bolder strokes
        img = np.maximum(img, np.roll(img, 1, axis=1) * rng.uniform(0.5, 1.0))
    img = img * rng.uniform(0.6, 1.0) + rng.normal(0.0, 0.25, img.shape)
    return np.clip(img, 0.0, 1.0)


def make_digits(n: int = 1200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (n, 1, SIZE, SIZE) float32 and their labels (n,) int64, the classes in turn."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    images = np.stack([render(int(d), rng) for d in labels])[:, None].astype(np.float32)
    return images, labels.astype(np.int64)


class Net(nn.Module):
    """conv(1->8) -> relu -> pool -> conv(8->16) -> relu -> pool -> linear(16*4*4 -> 10)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Linear(16 * (SIZE // 4) ** 2, 10)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def accuracy(model: nn.Module, x, y) -> float:
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


def run(steps: int | None = None, plot: str | None = "cnn-loss.png", progress_bar: bool = True,
        seed: int = 0, n_train: int = 1000, n_test: int = 400) -> dict:
    """Train for ``steps`` minibatches of 32 (default 800, a few seconds to a minute on 2 cores) with Adam;
    print test accuracy and write the loss curve to ``plot`` (with matplotlib). Returns the losses and the
    accuracies before and after training."""
    steps = 800 if steps is None else steps
    torch.manual_seed(seed)
    images, labels = make_digits(n_train + n_test, seed)
    x_train, y_train = torch.from_numpy(images[:n_train]), torch.from_numpy(labels[:n_train])
    x_test, y_test = torch.from_numpy(images[n_train:]), torch.from_numpy(labels[n_train:])
    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True, drop_last=True)
    print(f"graphgrad demo --example cnn: {sum(p.numel() for p in model.parameters())} parameters, "
          f"{n_train} training and {n_test} test images of {SIZE}x{SIZE} generated digits")
    print(ascii_art(images[:3], labels[:3]))
    before = accuracy(model, x_test, y_test)
    losses: list[float] = []
    batches = iter(())
    bar = progress(steps, "cnn", progress_bar)
    model.train()
    for _ in bar:
        try:
            xb, yb = next(batches)
        except StopIteration:  # a new epoch
            batches = iter(loader)
            xb, yb = next(batches)
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        bar.report(losses[-1])
    model.eval()
    after = accuracy(model, x_test, y_test)
    print(f"test accuracy: {before:.1%} before training, {after:.1%} after {steps} steps")
    written = plot_losses(losses, plot, "graphgrad CNN on generated digits")
    if written:
        print(f"loss curve written to {written}")
    return {"losses": losses, "accuracy_before": before, "accuracy_after": after, "plot": written}


def ascii_art(images: np.ndarray, labels: np.ndarray) -> str:
    """A few images side by side in characters, so the data can be seen without a plot."""
    shades = " .:-=+*#%@"
    rows = []
    for r in range(SIZE):
        rows.append("   ".join("".join(shades[min(int(v * 10), 9)] for v in img[0, r]) for img in images))
    return "\n".join([f"labels {', '.join(str(int(d)) for d in labels)}:"] + rows)
