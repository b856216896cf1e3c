"""fitts: executable, testable and comparable theories of fibromyalgia.

Public API (see docs/model-language.md for the model files)::

    spec = fitts.load_model("model.yaml")        # validated, composed Spec
    model = fitts.compile_model(spec)             # arrays + parameter table
    ds = fitts.simulate(model, patients=1000, days=365, seed=1)   # xarray.Dataset
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fitts")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+src"

from fitts.analysis.thresholds import stress_thresholds as stress_thresholds
from fitts.compile.compiled import CompiledModel as CompiledModel
from fitts.compile.compiled import compile_model as compile_model
from fitts.errors import DataError as DataError
from fitts.errors import FittsError as FittsError
from fitts.errors import ModelError as ModelError
from fitts.errors import SimulationError as SimulationError
from fitts.io.results import load_dataset as load_dataset
from fitts.io.results import save_dataset as save_dataset
from fitts.io.results import save_table as save_table
from fitts.observe.instruments import INSTRUMENTS as INSTRUMENTS
from fitts.observe.instruments import expressible as expressible
from fitts.observe.instruments import measure as measure
from fitts.observe.measure import observe as observe
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
