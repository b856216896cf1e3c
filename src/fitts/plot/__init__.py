"""Figures: every function returns a matplotlib Figure (built without pyplot, so importing
this package chooses no backend), accepts ``ax=`` (one panel) or ``fig=`` (several panels,
a figure or sub-figure) to draw into, and saves atomically when given a path."""

from fitts.plot.calibration import nroy_figure as nroy_figure
from fitts.plot.calibration import tension_figure as tension_figure
from fitts.plot.diagram import draw_diagram as draw_diagram
from fitts.plot.diary import plot_designs as plot_designs
from fitts.plot.diary import plot_recovery as plot_recovery
from fitts.plot.dominance import plot_dominance as plot_dominance
from fitts.plot.dominance import plot_subtypes as plot_subtypes
from fitts.plot.figures import save_figure as save_figure
from fitts.plot.forest import forest_plot as forest_plot
from fitts.plot.steady import plot_bifurcation as plot_bifurcation
from fitts.plot.steady import plot_mobile as plot_mobile
from fitts.plot.trajectories import plot_trajectories as plot_trajectories
from fitts.plot.trial import plot_trial as plot_trial
