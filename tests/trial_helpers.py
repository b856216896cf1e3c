"""Small trial files for the trial, run and CLI tests (fast: numpy backend, short times)."""

from __future__ import annotations

from pathlib import Path

SMALL_TRIAL = """\
format: fitts-trial/1
name: small
description: a short three-arm trial on everyone (fast)
theory: fitts
seed: 3
patients: {patients}
population:
  recruit: all
  run_in_days: 28
  prevalence: {{early_adversity: 0.5}}
  correlation:
    - {{between: [threat_bias, pain_sensitivity], rho: 0.4}}
arms:
  - {{name: placebo, control: true, interventions: [{{name: placebo}}]}}
  - {{name: snri, interventions: [{{name: snri}}]}}
  - {{name: gaba, allocation: 2, interventions: [{{name: gabapentinoid, start: 0, end: 21}}]}}
randomisation: {{seed: 5}}
duration_days: 28
follow_up_days: 14
assess_every_days: 7
dt: 0.1
dropout: {{rate_per_year: 2.0, pain_weight: 0.3}}
"""


def small_trial(folder: Path, patients: int = 60, name: str = "small.yaml") -> Path:
    p = folder / name
    p.write_text(SMALL_TRIAL.format(patients=patients))
    return p
