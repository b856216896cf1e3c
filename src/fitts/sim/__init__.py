"""Simulator: integrators, schedules, counter-based RNG streams, backends."""
