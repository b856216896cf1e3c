"""Figures: causal loop diagrams and trajectory plots (matplotlib, Agg backend)."""

from fitts.plot.diagram import draw_diagram as draw_diagram
from fitts.plot.trajectories import plot_trajectories as plot_trajectories
