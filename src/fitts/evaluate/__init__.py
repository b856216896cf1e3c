"""Explanatory targets (published phenomena) and scoring a theory against them."""

from fitts.evaluate.targets import Accept as Accept
from fitts.evaluate.targets import Target as Target
from fitts.evaluate.targets import TargetSet as TargetSet
from fitts.evaluate.targets import accept_passes as accept_passes
from fitts.evaluate.targets import calibration_path as calibration_path
from fitts.evaluate.targets import load_targets as load_targets

__all__ = ["Accept", "Target", "TargetSet", "accept_passes", "calibration_path", "load_targets"]
