"""fitts: executable, testable and comparable theories of fibromyalgia.

Public API (see docs/model-language.md for the model files)::

    spec = fitts.load_model("fitts")               # a built-in theory or a .yaml path
    model = fitts.compile_model(spec)               # arrays + parameter table
    ds = fitts.simulate(model, patients=1000, days=365, seed=1)   # xarray.Dataset

Names are imported on first use (PEP 562), so ``import fitts`` and the command line start
quickly; numba, scipy and xarray load only when a simulation needs them.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("fitts")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+src"

#: public name -> (module, attribute)
_API: dict[str, tuple[str, str]] = {
    "continuation": ("fitts.analysis.continuation", "continuation"),
    "fold_thresholds": ("fitts.analysis.continuation", "fold_thresholds"),
    "mobile": ("fitts.analysis.mobile", "mobile"),
    "sensitivity_matrix": ("fitts.analysis.mobile", "sensitivity_matrix"),
    "steady_states": ("fitts.analysis.steady", "steady_states"),
    "vector_field": ("fitts.analysis.steady", "vector_field"),
    "attribute": ("fitts.analysis.attribution", "attribute"),
    "Scenario": ("fitts.analysis.dominance", "Scenario"),
    "dominance_over_time": ("fitts.analysis.dominance", "dominance_over_time"),
    "loop_dominance": ("fitts.analysis.dominance", "loop_dominance"),
    "loop_table": ("fitts.analysis.loops", "loop_table"),
    "stress_thresholds": ("fitts.analysis.thresholds", "stress_thresholds"),
    "CompiledModel": ("fitts.compile.compiled", "CompiledModel"),
    "compile_model": ("fitts.compile.compiled", "compile_model"),
    "DataError": ("fitts.errors", "DataError"),
    "FittsError": ("fitts.errors", "FittsError"),
    "ModelError": ("fitts.errors", "ModelError"),
    "SimulationError": ("fitts.errors", "SimulationError"),
    "calibrate": ("fitts.evaluate.calibrate", "calibrate"),
    "load_calibration": ("fitts.evaluate.calibrate", "load_calibration"),
    "synthetic_targets": ("fitts.evaluate.calibrate", "synthetic_targets"),
    "Emulator": ("fitts.evaluate.emulator", "Emulator"),
    "HistoryMatch": ("fitts.evaluate.history_matching", "HistoryMatch"),
    "HistoryMatchSettings": ("fitts.evaluate.history_matching", "Settings"),
    "run_calibration": ("fitts.run.calibration", "run_calibration"),
    "save_calibration": ("fitts.run.calibration", "save_calibration"),
    "load_protocol": ("fitts.evaluate.protocol", "load_protocol"),
    "evaluate": ("fitts.evaluate.scorecard", "evaluate"),
    "load_targets": ("fitts.evaluate.targets", "load_targets"),
    "load_dataset": ("fitts.io.results", "load_dataset"),
    "save_dataset": ("fitts.io.results", "save_dataset"),
    "save_table": ("fitts.io.results", "save_table"),
    "INSTRUMENTS": ("fitts.observe.instruments", "INSTRUMENTS"),
    "expressible": ("fitts.observe.instruments", "expressible"),
    "measure": ("fitts.observe.instruments", "measure"),
    "observe": ("fitts.observe.measure", "observe"),
    # populations, trials and executors at scale (issue 6): one block
    "PopulationSpec": ("fitts.population.sample", "PopulationSpec"),
    "sample_population": ("fitts.population.sample", "sample_population"),
    "Recruitment": ("fitts.population.recruit", "Recruitment"),
    "everyday_schedule": ("fitts.population.recruit", "everyday_schedule"),
    "recruit": ("fitts.population.recruit", "recruit"),
    "DaskExecutor": ("fitts.run.executors", "DaskExecutor"),
    "InlineExecutor": ("fitts.run.executors", "InlineExecutor"),
    "LocalExecutor": ("fitts.run.executors", "LocalExecutor"),
    "run_job": ("fitts.run.jobs", "run_job"),
    "run_population": ("fitts.run.population", "run_population"),
    "run_trial": ("fitts.run.trial", "run_trial"),
    "write_trial": ("fitts.run.trial", "write_trial"),
    "effect_sizes": ("fitts.trials.analysis", "effect_sizes"),
    "load_trial": ("fitts.trials.spec", "load_trial"),
    "sample_parameters": ("fitts.sim.sample", "sample_parameters"),
    "typical_parameters": ("fitts.sim.sample", "typical_parameters"),
    "Apply": ("fitts.sim.simulate", "Apply"),
    "simulate": ("fitts.sim.simulate", "simulate"),
    "claim_coverage": ("fitts.spec.claims", "claim_coverage"),
    "load_claims": ("fitts.spec.claims", "load_claims"),
    "parse_expr": ("fitts.spec.expr", "parse_expr"),
    "load_model": ("fitts.spec.load", "load_model"),
    "load_model_text": ("fitts.spec.load", "load_model_text"),
    "Spec": ("fitts.spec.model", "Spec"),
    # diary studies (issue 7)
    "DiaryDesign": ("fitts.observe.diary", "DiaryDesign"),
    "simulate_diary": ("fitts.observe.diary", "simulate_diary"),
    "simulate_diaries": ("fitts.observe.diary", "simulate_diaries"),
    "lagged_mlm": ("fitts.analysis.within_person", "lagged_mlm"),
    "pcmci_links": ("fitts.analysis.within_person", "pcmci_links"),
    "true_links": ("fitts.analysis.within_person", "true_links"),
    "compare_with_truth": ("fitts.analysis.within_person", "compare_with_truth"),
    "recovery_curves": ("fitts.analysis.power", "recovery_curves"),
    "DesignSpace": ("fitts.analysis.study_design", "DesignSpace"),
    "discriminating_designs": ("fitts.analysis.study_design", "discriminating_designs"),
}
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        module, attr = _API[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fitts' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # explicit re-exports for type checkers and readers
    from fitts.analysis.attribution import attribute as attribute
    from fitts.analysis.continuation import continuation as continuation
    from fitts.analysis.continuation import fold_thresholds as fold_thresholds
    from fitts.analysis.dominance import Scenario as Scenario
    from fitts.analysis.dominance import dominance_over_time as dominance_over_time
    from fitts.analysis.dominance import loop_dominance as loop_dominance
    from fitts.analysis.loops import loop_table as loop_table
    from fitts.analysis.mobile import mobile as mobile
    from fitts.analysis.mobile import sensitivity_matrix as sensitivity_matrix
    from fitts.analysis.power import recovery_curves as recovery_curves
    from fitts.analysis.steady import steady_states as steady_states
    from fitts.analysis.steady import vector_field as vector_field
    from fitts.analysis.study_design import DesignSpace as DesignSpace
    from fitts.analysis.study_design import discriminating_designs as discriminating_designs
    from fitts.analysis.thresholds import stress_thresholds as stress_thresholds
    from fitts.analysis.within_person import compare_with_truth as compare_with_truth
    from fitts.analysis.within_person import lagged_mlm as lagged_mlm
    from fitts.analysis.within_person import pcmci_links as pcmci_links
    from fitts.analysis.within_person import true_links as true_links
    from fitts.compile.compiled import CompiledModel as CompiledModel
    from fitts.compile.compiled import compile_model as compile_model
    from fitts.errors import DataError as DataError
    from fitts.errors import FittsError as FittsError
    from fitts.errors import ModelError as ModelError
    from fitts.errors import SimulationError as SimulationError
    from fitts.evaluate.calibrate import calibrate as calibrate
    from fitts.evaluate.calibrate import load_calibration as load_calibration
    from fitts.evaluate.calibrate import synthetic_targets as synthetic_targets
    from fitts.evaluate.emulator import Emulator as Emulator
    from fitts.evaluate.history_matching import HistoryMatch as HistoryMatch
    from fitts.evaluate.history_matching import Settings as HistoryMatchSettings  # noqa: F401
    from fitts.evaluate.protocol import load_protocol as load_protocol
    from fitts.evaluate.scorecard import evaluate as evaluate
    from fitts.evaluate.targets import load_targets as load_targets
    from fitts.io.results import load_dataset as load_dataset
    from fitts.io.results import save_dataset as save_dataset
    from fitts.io.results import save_table as save_table
    from fitts.observe.diary import DiaryDesign as DiaryDesign
    from fitts.observe.diary import simulate_diaries as simulate_diaries
    from fitts.observe.diary import simulate_diary as simulate_diary
    from fitts.observe.instruments import INSTRUMENTS as INSTRUMENTS
    from fitts.observe.instruments import expressible as expressible
    from fitts.observe.instruments import measure as measure
    from fitts.observe.measure import observe as observe
    from fitts.population.recruit import Recruitment as Recruitment
    from fitts.population.recruit import everyday_schedule as everyday_schedule
    from fitts.population.recruit import recruit as recruit
    from fitts.population.sample import PopulationSpec as PopulationSpec
    from fitts.population.sample import sample_population as sample_population
    from fitts.run.calibration import run_calibration as run_calibration
    from fitts.run.calibration import save_calibration as save_calibration
    from fitts.run.executors import DaskExecutor as DaskExecutor
    from fitts.run.executors import InlineExecutor as InlineExecutor
    from fitts.run.executors import LocalExecutor as LocalExecutor
    from fitts.run.jobs import run_job as run_job
    from fitts.run.population import run_population as run_population
    from fitts.run.trial import run_trial as run_trial
    from fitts.run.trial import write_trial as write_trial
    from fitts.sim.sample import sample_parameters as sample_parameters
    from fitts.sim.sample import typical_parameters as typical_parameters
    from fitts.sim.simulate import Apply as Apply
    from fitts.sim.simulate import simulate as simulate
    from fitts.spec.claims import claim_coverage as claim_coverage
    from fitts.spec.claims import load_claims as load_claims
    from fitts.spec.expr import parse_expr as parse_expr
    from fitts.spec.load import load_model as load_model
    from fitts.spec.load import load_model_text as load_model_text
    from fitts.spec.model import Spec as Spec
    from fitts.trials.analysis import effect_sizes as effect_sizes
    from fitts.trials.spec import load_trial as load_trial
