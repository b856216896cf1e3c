"""Causal loop diagram of a model: states grouped by `group`, inputs as boxes, signed edges."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl
import networkx as nx
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from fitts.analysis.graph import signed_graph
from fitts.errors import DataError, did_you_mean
from fitts.plot.figures import figure_format, finish, single_axes
from fitts.spec.model import Spec

EXCITATORY = "#1f5fbf"
INHIBITORY = "#c62828"
HIGHLIGHT = "#ff8f00"
INPUT_COLOUR = "#e0e0e0"
AUX_COLOUR = "#f5f5f5"
LABEL_POINTS = 7.0
# average glyph width and line height of the label font, in font sizes (DejaVu Sans)
GLYPH_WIDTH, LINE_HEIGHT = 0.62, 1.25


def _group_layout(g: nx.MultiDiGraph) -> dict[str, np.ndarray]:
    """States on a circle of groups (each group a small circle); inputs on an outer ring."""
    states = [n for n, k in g.nodes(data="kind") if k == "state"]
    inputs = [n for n, k in g.nodes(data="kind") if k == "input"]
    groups: dict[str | None, list[str]] = {}
    for n in states:
        groups.setdefault(g.nodes[n]["group"], []).append(n)
    pos: dict[str, np.ndarray] = {}
    if len(groups) <= 1:
        for i, n in enumerate(states):
            a = 2 * math.pi * i / max(len(states), 1) + math.pi / 2
            pos[n] = np.array([math.cos(a), math.sin(a)])
    else:
        k = len(groups)
        for gi, members in enumerate(groups.values()):
            a = 2 * math.pi * gi / k + math.pi / 2
            centre = np.array([math.cos(a), math.sin(a)])
            r = 0.0 if len(members) == 1 else min(0.12 + 0.045 * len(members), math.pi / k * 0.8)
            for j, n in enumerate(members):
                b = a + math.pi / 2 + 2 * math.pi * j / len(members)
                pos[n] = centre + r * np.array([math.cos(b), math.sin(b)])
    # an input sits on the outer ring, at the mean direction of the states it drives
    angles = []
    for n in inputs:
        targets = [pos[v] for _, v in g.out_edges(n) if v in pos]
        vec = np.sum(targets, axis=0) if targets else np.zeros(2)
        angles.append(math.atan2(vec[1], vec[0]) if np.any(vec) else 0.0)
    min_gap = 2 * math.pi / max(len(inputs), 1) * 0.6 if inputs else 0.0
    order = np.argsort(angles)
    placed: list[float] = []
    for idx in order:
        a = angles[idx]
        if placed and a - placed[-1] < min_gap:
            a = placed[-1] + min_gap
        placed.append(a)
        pos[inputs[idx]] = 1.75 * np.array([math.cos(a), math.sin(a)])
    return pos


def _wrap(label: str, width: int = 14) -> str:
    words, lines, cur = label.replace("_", " ").split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    lines.append(cur)
    return "\n".join(lines)


def node_size_for(labels: Sequence[str], fontsize: float = LABEL_POINTS) -> float:
    """Marker area (points²) of a circle that holds the longest wrapped label.

    Parameters
    ----------
    labels
        Wrapped labels (lines separated by newlines).
    fontsize
        Label font size, points.
    """
    need = 0.0
    for lab in labels:
        lines = lab.split("\n")
        w = max(len(x) for x in lines) * GLYPH_WIDTH * fontsize
        h = len(lines) * LINE_HEIGHT * fontsize
        need = max(need, math.hypot(w, h) + 4.0)
    return max(need, 30.0) ** 2


def _auxiliary_links(spec: Spec) -> list[tuple[str, str]]:
    """(from, to) for every use of a name in an auxiliary, and of an auxiliary in a rate."""
    from fitts.spec.expr import parse_expr

    if not spec.auxiliaries:
        return []
    shown = set(spec.nodes) | set(spec.inputs) | set(spec.auxiliaries)
    links = []
    for name, aux in spec.auxiliaries.items():
        links += [(dep, name) for dep in sorted(parse_expr(aux.expr).names & shown)]
    for name, node in spec.nodes.items():
        if node.rate is not None:
            links += [(a, name) for a in sorted(parse_expr(node.rate).names & set(spec.auxiliaries))]
    return links


def _auxiliary_layout(spec: Spec, links: list[tuple[str, str]], pos: dict[str, np.ndarray]
                      ) -> dict[str, np.ndarray]:
    """Each auxiliary between the states and inputs it links, pulled towards the middle."""
    out: dict[str, np.ndarray] = {}
    for k, name in enumerate(spec.auxiliaries):
        near = [pos[u] for u, v in links if v == name and u in pos]
        near += [pos[v] for u, v in links if u == name and v in pos]
        centre = np.mean(near, axis=0) if near else np.zeros(2)
        angle = 2 * math.pi * k / max(len(spec.auxiliaries), 1)
        # towards the middle of the drawing (the states lie on circles around it), spread
        # around that point so auxiliaries with the same neighbours do not overlap
        out[name] = 0.55 * centre + 0.3 * np.array([math.cos(angle), math.sin(angle)])
    return out


def draw_diagram(spec: Spec, path: str | Path | None = None, *, highlight: Sequence[str] | None = None,
                 title: str | None = None, ax: Axes | None = None) -> Figure:
    """Draw the causal loop diagram of a model; save it when `path` is given.

    Parameters
    ----------
    spec
        A loaded model.
    path
        Output file (.svg, .png or .pdf by suffix), written atomically; None: not saved.
    highlight
        Edge ids to emphasise (for example ``Loop.edges`` of one loop); gate edge ids of
        :func:`fitts.analysis.graph.gate_edge_id` are accepted too.
    title
        Figure title; default: the model's name with its node and edge counts.
    ax
        Axes to draw into (default: a new figure sized to the model).

    Returns
    -------
    matplotlib.figure.Figure
        The figure; its legend lists edge signs, inputs and module groups.

    Raises
    ------
    DataError
        An unknown suffix or an unknown edge id in `highlight`.
    """
    if path is not None:
        figure_format(path)
    g = signed_graph(spec)
    keys = {k for _, _, k in g.edges(keys=True)}
    highlight_set = set(highlight or ())
    for eid in highlight_set:
        if eid not in keys:
            raise DataError(f"cannot highlight unknown edge {eid!r}." + did_you_mean(eid, keys))
    pos = _group_layout(g)
    uses = _auxiliary_links(spec)
    aux_pos = _auxiliary_layout(spec, uses, pos)
    states = [n for n, k in g.nodes(data="kind") if k == "state"]
    inputs = [n for n, k in g.nodes(data="kind") if k == "input"]
    group_names = list(dict.fromkeys(g.nodes[n]["group"] for n in states))
    cmap = mpl.colormaps["tab10" if len(group_names) <= 10 else "tab20"]
    group_colour = {grp: cmap(i % cmap.N) for i, grp in enumerate(group_names)}

    labels = {n: _wrap(n) for n in [*g.nodes, *aux_pos]}
    node_size = node_size_for(list(labels.values()))
    size = 6 + 0.35 * len(states)
    fig, ax = single_axes(ax, (size + 3.5, size))
    nx.draw_networkx_nodes(g, pos, nodelist=states, ax=ax, node_size=node_size,
                           node_color=[group_colour[g.nodes[n]["group"]] for n in states],
                           alpha=0.35, edgecolors="#333333", linewidths=1.0)
    if inputs:
        nx.draw_networkx_nodes(g, pos, nodelist=inputs, ax=ax, node_size=node_size,
                               node_shape="s", node_color=INPUT_COLOUR, edgecolors="#555555",
                               linewidths=1.0)
    if aux_pos:
        # auxiliaries: named expressions, drawn small and grey with dotted "used by" links
        # (unsigned: they are not edges of the signed graph the loop analyses read)
        ga = nx.DiGraph(uses)
        both = {**pos, **aux_pos}
        nx.draw_networkx_nodes(ga, both, nodelist=list(aux_pos), ax=ax, node_size=node_size * 0.6,
                               node_shape="h", node_color=AUX_COLOUR, edgecolors="#777777", linewidths=0.8)
        nx.draw_networkx_edges(ga, both, edgelist=uses, ax=ax, node_size=node_size, edge_color="#888888",
                               width=0.8, style="dotted", arrows=True, arrowstyle="-|>", arrowsize=9)
        pos = both
    nx.draw_networkx_labels(g, pos, labels={n: labels[n] for n in g.nodes}, ax=ax, font_size=LABEL_POINTS)
    if aux_pos:
        nx.draw_networkx_labels(nx.Graph(list(uses)), pos, labels={n: labels[n] for n in aux_pos}, ax=ax,
                                font_size=LABEL_POINTS * 0.9)

    seen: dict[tuple[str, str], int] = {}
    for u, v, key, data in g.edges(keys=True, data=True):
        k = seen.get((u, v), 0)
        seen[(u, v)] = k + 1
        hot = key in highlight_set
        colour = EXCITATORY if data["sign"] > 0 else INHIBITORY
        nx.draw_networkx_edges(
            g, pos, edgelist=[(u, v)], ax=ax, node_size=node_size,
            edge_color=HIGHLIGHT if hot else colour,
            width=3.0 if hot else 1.1,
            alpha=1.0 if hot or not highlight_set else 0.35,
            style="dashed" if data["gating"] else "solid",
            arrows=True, arrowstyle="-|>" if data["sign"] > 0 else "-[",
            arrowsize=14, connectionstyle=f"arc3,rad={0.12 + 0.12 * k}",
        )

    handles = [
        Line2D([], [], color=EXCITATORY, lw=1.5, label="excitatory (+)"),
        Line2D([], [], color=INHIBITORY, lw=1.5, label="inhibitory (-)"),
        Line2D([], [], color="#555555", lw=1.5, ls="--", label="gating (multiplies an edge)"),
    ]
    if highlight_set:
        handles.append(Line2D([], [], color=HIGHLIGHT, lw=3, label="highlighted"))
    if inputs:
        handles.append(Patch(facecolor=INPUT_COLOUR, edgecolor="#555555", label="input"))
    if aux_pos:
        handles.append(Line2D([], [], color="#888888", lw=1.0, ls=":", marker="h", markersize=7,
                              markerfacecolor=AUX_COLOUR, label="auxiliary (used by)"))
    for grp in group_names:
        handles.append(Patch(facecolor=group_colour[grp], alpha=0.35, edgecolor="#333333",
                             label=grp if grp is not None else "state"))
    # beside the axes, inside the figure: the constrained layout (or the tight bounding box
    # of save_figure) makes room for it, so no entry is cut off
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
              frameon=False, title="edges and modules", title_fontsize=8)
    n_rate = sum(1 for *_, d in g.edges(keys=True, data=True) if d["mode"] == "rate")
    links = f", {n_rate} links read from rates" if n_rate else ""
    ax.set_title(title or f"{spec.name}: {len(states)} states, {len(spec.edges)} edges{links}")
    ax.set_axis_off()
    ax.set_aspect("equal")
    xy = np.array(list(pos.values()))
    (x0, y0), (x1, y1) = xy.min(axis=0) - 0.35, xy.max(axis=0) + 0.35
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    return finish(fig, path)
