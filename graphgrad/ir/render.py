"""Pictures from DOT text through Graphviz's ``dot`` program (no Python dependency: a subprocess, run only when
a picture is asked for). Used by ``Graph._repr_svg_``, ``graphgrad dump --format svg|png`` and ``graphgrad.viz``.
"""
from __future__ import annotations

import shutil
import subprocess

#: the output formats ``render`` accepts (``dot -T...``); text formats come back as bytes too
FORMATS = ("svg", "png", "pdf", "jpg", "gif", "dot", "plain", "json")


class GraphvizNotFound(RuntimeError):
    """Graphviz's ``dot`` program is not on PATH."""


def find_dot() -> str | None:
    """The path of Graphviz's ``dot`` program, or None when it is not installed."""
    return shutil.which("dot")


def render(source: str, format: str = "svg") -> bytes:  # noqa: A002  (graphviz's own argument name)
    """``source`` (DOT text) drawn by ``dot -T<format>``: the picture's bytes.

    Raises GraphvizNotFound (naming the package to install) when ``dot`` is missing, ValueError for a format
    outside ``FORMATS``, and RuntimeError with dot's own message when it rejects the source.

    >>> render('digraph { a -> b }', "svg")[:5] if find_dot() else b'<?xml'
    b'<?xml'
    """
    if format not in FORMATS:
        raise ValueError(f"format={format!r}: expected one of {', '.join(FORMATS)}")
    dot = find_dot()
    if dot is None:
        raise GraphvizNotFound(f"drawing {format.upper()} needs Graphviz's `dot` program, which is not on PATH: install "
                               "the graphviz package (apt-get install graphviz; brew install graphviz; "
                               "conda install graphviz)")
    done = subprocess.run([dot, f"-T{format}"], input=source.encode(), capture_output=True, check=False)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        raise RuntimeError(f"dot -T{format} failed: {message}")
    return done.stdout


def repr_svg(source: str) -> str | None:
    """For ``_repr_svg_``: the SVG text, or None when ``dot`` is missing (Jupyter then shows the text form)."""
    if find_dot() is None:
        return None
    return render(source, "svg").decode()
