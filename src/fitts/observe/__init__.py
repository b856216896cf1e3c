"""Observation models: latent states -> what studies measure."""

from fitts.observe.measure import observe as observe
