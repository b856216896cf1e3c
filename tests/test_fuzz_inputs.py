"""Fuzzing every kind of input file and the command line (issue 18, "What must work").

Hypothesis mutates the real files shipped with `fitts` (a model, the targets, the protocol,
a trial, a schedule, a calibration file, patient parameters): it replaces a value somewhere
in the tree by a hostile one (NaN, inf, huge or negative numbers, control characters, long
text, deep nesting, paths of devices and pipes, ...), deletes or adds keys, or damages the
text itself. Every outcome must be success or a :class:`~fitts.errors.FittsError` (exit 2 on
the command line) in bounded time: never another exception, a traceback or a hang.

366 cases run by default; ``pytest -m slow`` (``make fuzz``) runs ten times more.
"""

from __future__ import annotations

import copy
import math
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import TWO_NODE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from fitts.errors import FittsError, excerpt
from fitts.spec.load import models_dir

UNEXPECTED = re.compile(r"unexpected [A-Z]\w*(Error|Exception)")

DEFAULT = 42  # cases per file kind in the normal run (8 kinds + 30 command lines: 366)
SLOW = 500  # cases per file kind under the `slow` mark
MAX_SECONDS = 30.0  # longest a single case may take

def _deep(n: int) -> Any:
    out: Any = 1
    for _ in range(n):
        out = [out]
    return out


HOSTILE: list[Any] = [
    float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 1e-308, 0, -1, 0.0, 2**64, -(2**63), True, None,
    "", " ", "nan", "inf", "1e999", "-", "[", "]", "{", "${x}", "x" * 5000, "\x1b]0;pwned\x07\x1b[2J", "\x00",
    "é🙂", "../../../etc/passwd", "/etc/passwd", "/dev/zero", "/proc/self/mem", ".", "/", "a" * 300 + ".yaml",
    "__import__('os').system('echo pwned')", "exp(1e308)", "1/0", "x**x**x**x", "[" * 50 + "]" * 50,
    [], {}, _deep(60),
    {"dist": "lognormal", "median": 1e300, "sigma": 50}, {"dist": "normal", "mean": 0, "sd": -1},
    {"kind": "events", "input": "stress", "rate_per_year": 1e308, "duration": 1e-300, "magnitude": 1e308},
    list(range(200)),
]


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and indices) into a YAML tree."""
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


def _set(data: Any, path: tuple, value: Any, action: str) -> Any:
    if not path:
        return value
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if action == "delete":
        del parent[key]
    elif action == "add" and isinstance(parent, dict):
        parent[f"{key}_extra" if isinstance(key, str) else "extra"] = value
    elif action == "rename" and isinstance(parent, dict):
        parent[value if isinstance(value, str) and value not in parent else f"{key}["] = parent.pop(key)
    else:
        parent[key] = value
    return data


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """`text` (YAML) with one to three mutations of its tree or of its text."""
    if draw(st.integers(0, 9)) == 0:  # damage the text itself
        cut = draw(st.integers(0, len(text)))
        junk = draw(st.sampled_from(["", ":", "- ", "&a [*a]", "\t", "!!python/object:os.system", "*x", "{", "'",
                                     "\x00", "\ufeff", "<<: *a", "? ", "%YAML 9.9\n---"]))
        return text[:cut] + junk + text[cut + draw(st.integers(0, 20)):]
    data = yaml.safe_load(text)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add", "rename"]))
        if not path and action != "replace":
            continue
        value = copy.deepcopy(draw(st.one_of(st.sampled_from(HOSTILE), st.floats(allow_nan=True), st.integers(),
                                             st.text(max_size=30))))  # never share (and so mutate) HOSTILE
        data = _set(data, path, value, action)
    try:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=False, width=10_000)
    except (yaml.YAMLError, RecursionError, ValueError):
        return text


def _check(load: Any, path: Path) -> None:
    t0 = time.monotonic()
    try:
        load(path)
    except FittsError as exc:
        msg = str(exc)
        assert not UNEXPECTED.search(msg), msg
        assert len(msg) < 5000, excerpt(msg)
        assert "\x1b" not in msg and "\x07" not in msg
    assert time.monotonic() - t0 < MAX_SECONDS


def _schedule(path: Path) -> None:
    from fitts.cli import load_schedule_file

    load_schedule_file(path, ["stress", "psychosocial_stress"])


def _params(path: Path) -> None:
    from fitts.io.params import read_patient_params

    read_patient_params(path, ["k", "tau.a", "weight.a -> b"])


def _loader(kind: str) -> Any:
    from fitts.evaluate.calibrate import load_calibration
    from fitts.evaluate.protocol import load_protocol
    from fitts.evaluate.targets import load_targets
    from fitts.spec.load import load_model
    from fitts.trials.spec import load_trial

    return {"model": load_model, "mobile": load_model, "targets": load_targets, "protocol": load_protocol,
            "trial": load_trial, "schedule": _schedule, "calibration": load_calibration,
            "params": _params}[kind]


def _source(kind: str) -> str:
    m = models_dir()
    if kind == "model":
        return TWO_NODE
    if kind == "schedule":
        return ("- {input: stress, kind: pulse, start: 3, duration: 2, level: 1.5}\n"
                "- {input: stress, kind: events, rate_per_year: 4, duration: 3,\n"
                "   magnitude: {dist: lognormal, median: 1, sigma: 0.5}}\n"
                "- {input: stress, kind: daily, values: [0, 1, 0.5]}\n")
    if kind == "params":
        return "k: 1.2\ntau.a: 2\n'weight.a -> b': 1.5\n"
    return {"mobile": m / "examples" / "mobile16.yaml", "targets": m / "targets" / "calibration.yaml",
            "protocol": m / "protocols" / "default.yaml", "trial": m / "trials" / "example.yaml",
            "calibration": m / "calibration" / "fitts.yaml"}[kind].read_text()


KINDS = ["model", "mobile", "targets", "protocol", "trial", "schedule", "calibration", "params"]


def _fuzz(kind: str, n: int, tmp: Path) -> None:
    source = _source(kind)
    target = tmp / f"{kind}.yaml"
    if kind == "calibration":  # the calibration file names its targets file beside it
        (tmp / "calibration.yaml").write_text(_source("targets"))
        target = tmp / "fitts-calibration.yaml"

    @settings(max_examples=n, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(mutated(source))
    def run(text: str) -> None:
        target.write_text(text, encoding="utf-8", errors="surrogateescape")
        _check(_loader(kind), target)

    run()


@pytest.mark.parametrize("kind", KINDS)
def test_fuzz_input_files(kind: str, tmp_path: Path) -> None:
    _fuzz(kind, DEFAULT, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_fuzz_input_files_many(kind: str, tmp_path: Path) -> None:
    _fuzz(kind, SLOW, tmp_path)


OPTIONS = {
    "--days": st.sampled_from(["inf", "nan", "1e308", "-1", "0", "1e-300", "2", "abc", "1" * 400]),
    "--dt": st.sampled_from(["inf", "nan", "1e-300", "0", "-0.1", "0.1", "3"]),
    "--record-every": st.sampled_from(["1e-300", "inf", "0.05", "1", "1e9"]),
    "--seed": st.sampled_from(["1e30", "-1", str(2**70), "0", "x"]),
    "--patients": st.sampled_from(["0", "-3", str(2**70), "2", "1e3"]),
    "--intervention": st.sampled_from(["calm@nan:inf", "calm@1e308", "calm@-1", "nope", "calm@1:0", "@", "calm@1"]),
    "--out": st.sampled_from([".", "x.csv", "blocker/r.nc", "r.nc", "", "a\x00b.nc", "d" * 300 + ".nc"]),
    "--schedule": st.sampled_from(["/dev/zero", ".", "missing.yaml", "blocker", "/proc/self/mem"]),
}


def _cli(n: int, tmp: Path) -> None:
    from fitts.cli import app

    (tmp / "two.yaml").write_text(TWO_NODE)
    (tmp / "blocker").write_text("x")

    @settings(max_examples=n, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(st.dictionaries(st.sampled_from(sorted(OPTIONS)), st.none(), min_size=1, max_size=3).flatmap(
        lambda keys: st.fixed_dictionaries({k: OPTIONS[k] for k in keys})))
    def run(opts: dict[str, str]) -> None:
        args = ["simulate", "two.yaml", "--patients", "2", "--days", "2", "--dt", "0.1", "--backend", "numpy",
                "--out", "r.nc"]
        for k, v in opts.items():
            if k in args and k != "--intervention":
                i = args.index(k)
                args[i + 1] = v
            else:
                args += [k, v]
        import os

        old = Path.cwd()
        os.chdir(tmp)
        try:
            t0 = time.monotonic()
            r = CliRunner().invoke(app, args)
            assert time.monotonic() - t0 < MAX_SECONDS
        finally:
            os.chdir(old)
        assert r.exit_code in (0, 2), (args, r.exit_code, r.output, r.exception)
        assert r.exception is None or isinstance(r.exception, SystemExit), (args, repr(r.exception))
        assert not UNEXPECTED.search(r.output) and "Traceback" not in r.output
        (tmp / "r.nc").unlink(missing_ok=True)

    run()


def test_fuzz_simulate_options(tmp_path: Path) -> None:
    _cli(30, tmp_path)


@pytest.mark.slow
def test_fuzz_simulate_options_many(tmp_path: Path) -> None:
    _cli(300, tmp_path)


def test_hostile_values_are_all_yaml() -> None:
    """The hostile values survive a YAML round trip (so the mutations reach the loaders)."""
    text = yaml.safe_dump(HOSTILE, width=10_000)
    back = yaml.safe_load(text)
    assert len(back) == len(HOSTILE)
    assert math.isnan(back[0])
