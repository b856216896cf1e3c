"""Analyses of a model's structure and dynamics: loops and polarity, and more to come."""

from fitts.analysis.graph import Loop as Loop
from fitts.analysis.graph import elementary_loops as elementary_loops
from fitts.analysis.graph import loop_count as loop_count
from fitts.analysis.graph import signed_graph as signed_graph
