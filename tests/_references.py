"""Plain NumPy references that tests in several directories compare with (pytest puts tests/ on ``sys.path`` for
its conftest): written for clarity, a loop where a loop reads best, never the implementation under test."""
import numpy as np


def embedding_bag_reference(idx, w, offsets, mode, psw=None, last=False, pad=None):
    """PyTorch's documented embedding_bag, a bag at a time (a loop: the reference, not the implementation)."""
    if offsets is None:  # 2-D: fixed-length bags
        offsets, idx = np.arange(0, idx.size, idx.shape[1]), idx.reshape(-1)
        psw = None if psw is None else psw.reshape(-1)
    ends = list(offsets[1:]) + ([] if last else [idx.size])
    out = []
    for start, end in zip(offsets, ends):
        keep = [k for k in range(start, end) if idx[k] != pad]
        rows = np.array([w[idx[k]] * (1.0 if psw is None else psw[k]) for k in keep]).reshape(len(keep), w.shape[1])
        out.append(np.zeros(w.shape[1]) if not keep else
                   rows.sum(0) if mode == "sum" else rows.mean(0) if mode == "mean" else rows.max(0))
    return np.array(out).reshape(len(out), w.shape[1])
