"""Figure plumbing shared by every plot: creation without pyplot, format check, atomic save.

Figures are built as :class:`matplotlib.figure.Figure` objects directly, never through
``pyplot``, so importing :mod:`fitts.plot` chooses no backend and leaves a notebook's
backend alone; ``Figure.savefig`` renders with the format's own canvas.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

from fitts.errors import DataError
from fitts.io.results import atomic_path

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf"}
DPI = 150


def figure_format(path: str | Path) -> str:
    """The matplotlib format of a figure path, from its suffix (svg, png or pdf)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"{path}: cannot tell the figure format from the suffix {suffix!r}; "
                        "name the file .svg, .png or .pdf")
    return FORMATS[suffix]


def save_figure(fig: Figure, path: str | Path, **kwargs: object) -> Path:
    """Save a figure atomically (the format follows the suffix of `path`); returns the path.

    ``bbox_inches="tight"`` is the default so that legends placed outside the axes are kept.
    """
    fmt = figure_format(path)
    kwargs.setdefault("bbox_inches", "tight")
    kwargs.setdefault("dpi", DPI)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, **kwargs)
    return Path(path)


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A figure with constrained layout, not registered with pyplot."""
    return Figure(figsize=figsize, layout="constrained")


def single_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure | SubFigure, Axes]:
    """The figure and axes to draw into: the caller's `ax`, or a new figure with one axes."""
    if ax is not None:
        return ax.get_figure(), ax
    fig = new_figure(figsize)
    return fig, fig.add_subplot()


def panel_figure(fig: Figure | SubFigure | None, figsize: tuple[float, float]) -> Figure | SubFigure:
    """The figure (or sub-figure) a multi-panel plot draws into: the caller's, or a new one."""
    return fig if fig is not None else new_figure(figsize)


def finish(fig: Figure | SubFigure, path: str | Path | None, **kwargs: object) -> Figure:
    """Save the figure when `path` is given and return the top-level Figure."""
    top = fig.figure if isinstance(fig, SubFigure) else fig
    while isinstance(top, SubFigure):
        top = top.figure
    if path is not None:
        save_figure(top, path, **kwargs)
    return top
