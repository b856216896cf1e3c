"""Hostile YAML in every loader: nesting, alias bombs, diamonds, long names, NaN (issue 18, items 1-3, 5-7)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers import TWO_NODE, write

from fitts.errors import ModelError, clean_message, excerpt
from fitts.evaluate.protocol import load_protocol
from fitts.evaluate.targets import load_targets
from fitts.spec.load import load_model, load_model_text
from fitts.spec.yamlio import MAX_ALIAS_NODES, MAX_DEPTH, load_yaml_text
from fitts.trials.spec import load_trial

DEEP = "a: " + "[" * 200 + "]" * 200 + "\n"
DEEP_BLOCK = "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n"


def _loaders(tmp_path: Path) -> dict:
    from fitts.cli import load_schedule_file

    return {
        "model": load_model,
        "targets": load_targets,
        "protocol": load_protocol,
        "trial": load_trial,
        "schedule": lambda p: load_schedule_file(p, ["stress"]),
    }


@pytest.mark.parametrize("text", [DEEP, DEEP_BLOCK, "[" * 100_000 + "]" * 100_000, "- " * 100_000 + "1\n",
                                  "{a: " * 50_000 + "1" + "}" * 50_000])
@pytest.mark.parametrize("kind", ["model", "targets", "protocol", "trial", "schedule"])
def test_deep_nesting_is_refused_by_every_loader(tmp_path: Path, kind: str, text: str) -> None:
    p = write(tmp_path, f"{kind}.yaml", text)
    with pytest.raises(ModelError, match=f"nested more than {MAX_DEPTH} levels") as e:
        _loaders(tmp_path)[kind](p)
    assert f"{kind}.yaml" in str(e.value)


def test_nesting_within_the_limit_is_read() -> None:
    text = "a: " + "[" * (MAX_DEPTH - 2) + "1" + "]" * (MAX_DEPTH - 2)
    data = load_yaml_text(text)
    depth = 0
    while not isinstance(data, int):
        data, depth = (data["a"] if isinstance(data, dict) else data[0]), depth + 1
    assert (data, depth) == (1, MAX_DEPTH - 1)


def _alias_bomb(levels: int) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append(f"nodes: {{x: *a{levels - 1}}}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [6, 9])
def test_alias_bomb_is_refused_before_expansion(tmp_path: Path, levels: int) -> None:
    p = write(tmp_path, "bomb.yaml", _alias_bomb(levels))
    t0 = time.monotonic()
    with pytest.raises(ModelError, match=f"repeat more than {MAX_ALIAS_NODES}") as e:
        load_model(p)
    assert time.monotonic() - t0 < 5
    assert len(str(e.value)) < 500


def test_small_alias_use_is_fine_and_message_is_short(tmp_path: Path) -> None:
    # 9**3 = 729 leaves: within the limit, but not a node mapping
    text = "nodes:\n  x: &a [" + ", ".join(["[" + ", ".join(["[1, 2, 3, 4, 5, 6, 7, 8, 9]"] * 9) + "]"] * 9) \
        + "]\n  y: *a\n"
    p = write(tmp_path, "small.yaml", text)
    with pytest.raises(ModelError) as e:
        load_model(p)
    assert len(str(e.value)) < 500, str(e.value)
    assert "a list of 9 items" in str(e.value)


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(ModelError, match="nested more than"):
        load_yaml_text("a: &x [1, *x]\n", "r.yaml")


def test_long_name_is_quoted_as_an_excerpt(tmp_path: Path) -> None:
    name = "n" * 1000  # YAML's longest plain key
    p = write(tmp_path, "long.yaml", f"nodes:\n  {name}: {{tau: 1}}\n")
    with pytest.raises(ModelError, match="longer than 100 characters") as e:
        load_model(p)
    assert len(str(e.value)) < 400


def test_excerpt_and_clean_message() -> None:
    assert excerpt("abc") == "'abc'"
    assert excerpt("x" * 5000).endswith("… (5000 characters)")
    assert len(excerpt("x" * 5000)) < 110
    assert excerpt("\x1b]0;pwned\x07") == "'\\x1b]0;pwned\\x07'"
    assert excerpt({"a": 1, "b": 2}) == "a mapping of 2 entries"
    assert clean_message("a\x1b[2Jb\nc") == "a\\x1b[2Jb\nc"
    assert len(clean_message("y" * 10**6)) < 2100


def _diamond(tmp_path: Path, levels: int) -> Path:
    write(tmp_path, f"m{levels}.yaml", "inputs:\n  stress: {units: a.u.}\nnodes:\n  leaf: {tau: 1}\n"
          "schedule:\n  - {input: stress, kind: step, level: 1}\n")
    for i in range(levels - 1, -1, -1):
        write(tmp_path, f"m{i}.yaml", f"includes:\n  - {{path: m{i + 1}.yaml}}\n  - {{path: m{i + 1}.yaml}}\n"
              f"nodes:\n  n{i}: {{tau: 1}}\n")
    return tmp_path / "m0.yaml"


def test_include_diamond_is_composed_once_per_file(tmp_path: Path) -> None:
    top = _diamond(tmp_path, 30)
    t0 = time.monotonic()
    spec = load_model(top)
    assert time.monotonic() - t0 < 10
    assert len(spec.nodes) == 31
    assert len(spec.schedule) == 1  # the shared module's schedule is applied once
    assert len(spec.files) == 31


def test_folder_include_names_file_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, "m.yaml", "name: m\nincludes:\n  - {path: .}\n")
    with pytest.raises(ModelError, match="is a folder") as e:
        load_model(p)
    assert "m.yaml:3" in str(e.value) and "includes #1" in str(e.value)


@pytest.mark.parametrize("field,value", [("tau", ".nan"), ("noise", ".nan"), ("baseline", ".nan"),
                                         ("tau", "nan"), ("noise", ".inf"), ("tau", "1e308"),
                                         ("noise", "-.inf")])
def test_validate_refuses_nan_and_inf_with_the_line(tmp_path: Path, field: str, value: str) -> None:
    p = write(tmp_path, "m.yaml", f"name: m\nnodes:\n  a:\n    {field}: {value}\n")
    with pytest.raises(ModelError) as e:
        load_model(p)
    assert "m.yaml:4" in str(e.value) or "m.yaml:3" in str(e.value), str(e.value)


def test_tau_must_be_positive_and_noise_nonnegative() -> None:
    with pytest.raises(ModelError, match="tau must be > 0"):
        load_model_text("nodes:\n  a: {tau: 0}\n", "m.yaml")
    with pytest.raises(ModelError, match="noise must lie in"):
        load_model_text("nodes:\n  a: {noise: -1}\n", "m.yaml")


@pytest.mark.parametrize("prior", ["{dist: lognormal, median: 1, sigma: 300}", "{dist: normal, mean: 0, sd: 1e300}",
                                   "{dist: gamma, shape: 1, scale: 1e200}", "{dist: uniform, low: 0, high: 1e300}"])
def test_overflowing_prior_draws_are_refused(prior: str) -> None:
    text = f"parameters:\n  k: {{prior: {prior}}}\nnodes:\n  a: {{tau: 1, baseline: k}}\n"
    with pytest.raises(ModelError, match="beyond|out of range") as e:
        load_model_text(text, "m.yaml")
    assert "m.yaml:2" in str(e.value) or "m.yaml:" in str(e.value)


def test_overflowing_event_magnitude_is_refused() -> None:
    text = ("inputs:\n  s: {}\nnodes:\n  a: {tau: 1}\nedges:\n  - {from: s, to: a, sign: '+', weight: 1}\n"
            "schedule:\n  - {input: s, kind: events, rate_per_year: 5, duration: 1,\n"
            "     magnitude: {dist: lognormal, median: 1e10, sigma: 5}}\n")
    with pytest.raises(ModelError, match="beyond"):
        load_model_text(text, "m.yaml")


def test_existing_infinite_bounds_still_work() -> None:
    spec = load_model_text(TWO_NODE, "two.yaml")
    assert "calm" in spec.interventions


@pytest.mark.parametrize("text", ["nodes:\n  a: {tau: 1, 'x[0]': 2}\n", "nodes:\n  'a[': {tau: 1}\n",
                                  "'[': 1\nnodes:\n  a: {}\n"])
def test_brackets_in_keys_give_a_model_error(text: str) -> None:
    with pytest.raises(ModelError):
        load_model_text(text, "m.yaml")


def test_brackets_in_trial_keys(tmp_path: Path) -> None:
    p = write(tmp_path, "t.yaml", "format: fitts-trial/1\nname: t\ntheory: fitts\npatients: 10\n"
              "duration_days: 7\narms: [{name: a, 'x[1]': 2}, {name: b}]\n")
    with pytest.raises(ModelError, match="unknown field 'x\\[1\\]'"):
        load_trial(p)


def test_huge_integer_is_refused() -> None:
    with pytest.raises(ModelError, match="too large"):
        load_yaml_text("seed: " + "9" * 5000 + "\n", "t.yaml")
    with pytest.raises(ModelError, match="too large"):
        load_yaml_text("seed: 100000000000000000000000\n", "t.yaml")
    assert load_yaml_text("seed: 18446744073709551615\n")["seed"] == 2**64 - 1


def test_validation_is_linear_in_model_size() -> None:
    """Issue 18 #5: many small entries validate in time proportional to their number."""
    def model(n: int) -> str:
        nodes = "".join(f"  n{i}: {{tau: 1}}\n" for i in range(n))
        edges = "".join(f"  - {{from: n{i}, to: n{i + 1}, sign: '+', weight: 1}}\n" for i in range(n - 1))
        return "nodes:\n" + nodes + "edges:\n" + edges

    def timed(n: int) -> float:
        text = model(n)
        t0 = time.perf_counter()
        load_model_text(text, "big.yaml")
        return time.perf_counter() - t0

    timed(200)
    small, big = timed(1000), timed(4000)
    assert big < 10 * small + 0.5, (small, big)  # 4x the entries: about 4x the time, not 16x


def test_shipped_files_take_the_fast_parser() -> None:
    """Deep text goes to the pure-Python parser (libyaml's composer recursed in C and crashed on
    100 000 brackets with PyYAML 6.0.1); every shipped file stays on libyaml."""
    from fitts.spec.load import models_dir
    from fitts.spec.yamlio import _C_DEPTH_BOUND, _nesting_bound

    files = list(models_dir().rglob("*.yaml"))
    assert files
    assert max(_nesting_bound(f.read_text()) for f in files) <= _C_DEPTH_BOUND
    assert _nesting_bound("[" * 1000) > _C_DEPTH_BOUND
    assert _nesting_bound("- " * 1000) > _C_DEPTH_BOUND
