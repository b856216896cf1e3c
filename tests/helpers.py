"""Shared test helpers: small models written as text, every integrator."""

from __future__ import annotations

from pathlib import Path

from fitts.sim.integrators import RK4, EulerMaruyama, Heun

ALL_INTEGRATORS = (EulerMaruyama, Heun, RK4)


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


TWO_NODE = """
name: two
inputs:
  stress: {units: a.u.}
parameters:
  k: {prior: {dist: uniform, low: 0.5, high: 1.5}, source: test}
nodes:
  a: {tau: 1.0, baseline: -1.0, noise: 0.05}
  b: {tau: "2*k", baseline: 0.0, noise: 0.05}
edges:
  - {from: a, to: b, sign: '+', weight: 2.0, source: test, grade: plausible}
  - {from: b, to: a, sign: '-', weight: {dist: normal, mean: -1, sd: 0.2, bounds: [-.inf, 0]}}
  - {from: stress, to: a, sign: '+', weight: 1.5}
interventions:
  calm: {actions: [{clamp: a, value: 0.1}]}
  cut: {actions: [{cut_edge: 'a -> b'}]}
observations:
  a10: {expr: "10*a", units: score, noise: 0.5, bounds: [0, 10]}
"""
