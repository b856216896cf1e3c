"""Target files: the packaged calibration set, every error naming file, line and target, accept bands."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitts.errors import ModelError
from fitts.evaluate import Accept, Target, TargetSet, accept_passes, calibration_path, load_targets
from fitts.evaluate.targets import DESIGNS, STATISTICS

#: the published spec data the packaged copy must equal (present in the development checkout)
# The published file sits beside the project folder in the development workspace; elsewhere the test skips.
SHARED_CALIBRATION = Path(__file__).resolve().parents[2] / "shared" / "targets" / "calibration.yaml"

CALIBRATION_IDS = ("B01", "B07", "B09", "B14", "B16", "B21", "B31", "B35a", "B35b", "B38", "B47", "B49", "B65",
                   "T14", "T16", "T24", "T36")

ONE = """\
format: fitts-targets/1
targets:
  - id: T1
    title: A prevalence
    design: prevalence
    population: general
    measure: {observation: acr2016_case, statistic: proportion}
    value: 0.02
    interval: [0.01, 0.03]
    accept: [0.01, 0.06]
    grade: A
    source: Someone A. J Pain 2020
    protocol: Count cases at one time point.
"""
# line numbers in ONE
L_ID, L_DESIGN, L_MEASURE, L_INTERVAL, L_ACCEPT, L_SOURCE = 3, 5, 7, 9, 10, 12


def _write(tmp_path: Path, text: str, name: str = "mine.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _error(tmp_path: Path, text: str) -> ModelError:
    with pytest.raises(ModelError, match=r"mine\.yaml:\d+") as info:
        load_targets(_write(tmp_path, text))
    return info.value


# --------------------------------------------------------------------------- the packaged set


def test_packaged_calibration_loads() -> None:
    ts = load_targets()
    assert isinstance(ts, TargetSet)
    assert ts.ids() == CALIBRATION_IDS
    assert len(ts) == 17
    for t in ts:
        assert t.source.strip() and t.protocol.strip()
    assert ts.path is not None and ts.path.endswith("calibration.yaml")


def test_packaged_calibration_values() -> None:
    ts = load_targets(calibration_path())
    b09 = ts["B09"]
    assert b09.design == "exposure_cohort"
    assert b09.exposure is not None and b09.exposure.input == "physical_trauma"
    assert b09.comparator_value == pytest.approx(0.017)
    assert b09.accept.named and b09.accept.quantities() == ("exposed", "ratio")
    assert ts["B07"].value is None and ts["B07"].interval == (0.20, 0.47)
    assert ts["B21"].comparator == "controls"
    assert ts["B21"].measure.statistic == "hedges_g"
    b49 = ts["B49"].challenge
    assert b49 is not None and b49.clamp is not None
    assert (b49.clamp.state, b49.clamp.value, b49.for_) == ("sleep_disturbance", "high", "1 night (total deprivation)")
    assert ts["B16"].exposure is not None and ts["B16"].exposure.predisposition == "early_life_adversity"
    assert "B01" in ts and "B99" not in ts


def test_packaged_copy_is_the_published_file() -> None:
    if not SHARED_CALIBRATION.exists():
        pytest.skip(f"{SHARED_CALIBRATION} is not in this checkout")
    assert calibration_path().read_bytes() == SHARED_CALIBRATION.read_bytes(), (
        f"src/fitts/models/targets/calibration.yaml is stale: copy {SHARED_CALIBRATION} over it"
    )


def test_unknown_id_suggests() -> None:
    with pytest.raises(KeyError, match=r"no target 'B9'.*Did you mean"):
        load_targets()["B9"]


def test_targets_are_read_only() -> None:
    t = load_targets()["B01"]
    with pytest.raises(ValueError, match="frozen"):
        t.value = 0.5  # type: ignore[misc]


# --------------------------------------------------------------------------- errors


def test_minimal_file_loads(tmp_path: Path) -> None:
    ts = load_targets(_write(tmp_path, ONE))
    assert ts.ids() == ("T1",)
    assert ts["T1"].accept.band == (0.01, 0.06)


@pytest.mark.parametrize(
    ("old", "new", "line", "match"),
    [
        ("    source:", "    sorce:", L_SOURCE, r"unknown field 'sorce'\. Did you mean 'source'\?"),
        ("design: prevalence", "design: prevalance", L_DESIGN,
         r"design: unknown design 'prevalance'\. Did you mean 'prevalence'\?"),
        ("statistic: proportion", "statistic: proportoin", L_MEASURE,
         r"measure\.statistic: unknown statistic 'proportoin'"),
        ("statistic: proportion}", "statistic: proportion, off_by: 1}", L_MEASURE,
         r"measure: unknown field 'off_by'"),
        ("[0.01, 0.03]", "[0.03, 0.01]", L_INTERVAL, r"interval: lower end 0\.03 is above upper end 0\.01"),
        ("[0.01, 0.06]", "[0.06, 0.01]", L_ACCEPT, r"accept: lower end 0\.06 is above upper end 0\.01"),
        ("[0.01, 0.06]", "{exposed: [0.3, 0.1], ratio_min: 3}", L_ACCEPT,
         r"accept\.exposed: lower end 0\.3 is above upper end 0\.1"),
        ("[0.01, 0.06]", "{exposed: 0.3}", L_ACCEPT, r"accept\.exposed: a named band is \[lo, hi\]"),
        ("[0.01, 0.06]", "{ratio_min: [1, 2]}", L_ACCEPT, r"accept\.ratio_min: .*valid number"),
        ("[0.01, 0.06]", "{ratio_min: 3, ratio_max: 2}", L_ACCEPT, r"ratio_min \(3\) is above ratio_max \(2\)"),
        ("[0.01, 0.06]", "[0.1, 0.2, 0.3]", L_ACCEPT, r"accept: .*at most 2 items"),
        ("grade: A", "grade: D", 11, r"grade: unknown grade 'D'"),
        ("value: 0.02", "value: '0.02'", 8, r"value: .*valid number"),
        ("    measure:", "    exposure: {inptu: infection}\n    measure:", L_MEASURE,
         r"exposure: unknown field 'inptu'\. Did you mean 'input'\?"),
        ("    measure:", "    exposure: {kind: a story}\n    measure:", L_MEASURE,
         r"exposure: give at least one of `input`, `intervention`, `predisposition` or `clamp`"),
        ("    measure:", "    challenge: {clamp: {state: sleep, valu: high}}\n    measure:", L_MEASURE,
         r"challenge\.clamp: unknown field 'valu'"),
        ("    grade:", "    comparator_value: 0.1\n    grade:", L_ID, r"`comparator_value` is given but there is no"),
        ("source: Someone A. J Pain 2020", "source: '  '", L_SOURCE, r"source: must not be blank"),
    ],
)
def test_field_errors_name_file_line_and_target(tmp_path: Path, old: str, new: str, line: int, match: str) -> None:
    assert old in ONE
    err = _error(tmp_path, ONE.replace(old, new, 1))
    assert err.location.file is not None and err.location.file.endswith("mine.yaml")
    assert err.location.line == line
    assert err.location.entry == "target 'T1'"
    assert f"mine.yaml:{line}, target 'T1'" in str(err)
    with pytest.raises(ModelError, match=match):
        raise err


def test_missing_source_is_an_error(tmp_path: Path) -> None:
    err = _error(tmp_path, ONE.replace("    source: Someone A. J Pain 2020\n", ""))
    assert (err.location.line, err.location.entry) == (L_ID, "target 'T1'")
    assert err.hint is not None and "citation" in err.hint
    with pytest.raises(ModelError, match=r"mine\.yaml:3, target 'T1': missing required field 'source'"):
        raise err


def test_unknown_design_lists_the_allowed_ones(tmp_path: Path) -> None:
    err = _error(tmp_path, ONE.replace("design: prevalence", "design: cohort"))
    assert err.hint is not None
    assert all(d in err.hint for d in DESIGNS)
    err = _error(tmp_path, ONE.replace("statistic: proportion", "statistic: auc"))
    assert err.hint is not None
    assert all(s in err.hint for s in STATISTICS)


def test_duplicate_ids(tmp_path: Path) -> None:
    text = ONE + ONE[ONE.index("  - id"):]
    match = r"mine\.yaml:14, target 'T1': duplicate target id 'T1' \(first written on line 3\)"
    with pytest.raises(ModelError, match=match):
        load_targets(_write(tmp_path, text))


def test_second_target_is_named(tmp_path: Path) -> None:
    second = ONE[ONE.index("  - id"):].replace("T1", "T2").replace("grade: A", "grade: Z")
    with pytest.raises(ModelError, match=r"mine\.yaml:22, target 'T2': grade: unknown grade 'Z'"):
        load_targets(_write(tmp_path, ONE + second))


def test_unnamed_target_is_numbered(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"mine\.yaml:3, target #1: id: .*valid string"):
        load_targets(_write(tmp_path, ONE.replace("id: T1", "id: 1")))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (ONE.replace("fitts-targets/1", "fitts-targets/2"), r"mine\.yaml:1: unsupported format 'fitts-targets/2'"),
        (ONE.replace("format: fitts-targets/1\n", ""), r"mine\.yaml:1: missing required field 'format'"),
        (ONE + "extras: 1\n", r"mine\.yaml:14: unknown field 'extras'"),
        ("format: fitts-targets/1\ntargets: []\n", r"mine\.yaml:2: the file lists no targets"),
        ("format: fitts-targets/1\ntargets: {B01: 1}\n", r"mine\.yaml:2: targets: .*valid list"),
        ("format: fitts-targets/1\ntargets:\n  - B01\n", r"mine\.yaml:3, target #1: each target must be a mapping"),
        ("- just a list\n", r"mine\.yaml:1: a target file is a mapping"),
        (ONE.replace("population: general", "population: general\n  bad indent: 1"), r"mine\.yaml:\d+: YAML syntax"),
    ],
)
def test_file_errors(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ModelError, match=match):
        load_targets(_write(tmp_path, text))


def test_value_outside_its_own_band_is_allowed(tmp_path: Path) -> None:
    ts = load_targets(_write(tmp_path, ONE.replace("value: 0.02", "value: 0.5")))
    assert ts["T1"].value == 0.5
    assert not accept_passes(ts["T1"], 0.5)


def test_documented_example_loads(tmp_path: Path) -> None:
    doc = (Path(__file__).parents[1] / "docs" / "targets.md").read_text(encoding="utf-8")
    block = doc.split("## A complete file", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    ts = load_targets(_write(tmp_path, block))
    assert ts.ids() == ("T09", "T21")
    assert accept_passes(ts["T09"], {"exposed": 0.2, "ratio": 3})


def test_missing_file() -> None:
    with pytest.raises(ModelError, match="file not found"):
        load_targets("no/such/targets.yaml")


# --------------------------------------------------------------------------- accept bands


def test_single_band_is_inclusive() -> None:
    b01 = load_targets()["B01"]  # accept [0.01, 0.06]
    assert accept_passes(b01, 0.01) and accept_passes(b01, 0.06) and accept_passes(b01, 0.03)
    assert not accept_passes(b01, math.nextafter(0.01, 0)) and not accept_passes(b01, math.nextafter(0.06, 1))
    assert not accept_passes(b01, math.nan)
    assert accept_passes(load_targets()["B21"], -0.43)  # negative bands
    with pytest.raises(TypeError, match="single band; pass one number"):
        accept_passes(b01, {"exposed": 0.03})


def test_named_bands_and_bounds_b09() -> None:
    b09 = load_targets()["B09"]  # accept {exposed: [0.10, 0.30], ratio_min: 3}
    assert accept_passes(b09, {"exposed": 0.216, "ratio": 12.7})
    assert accept_passes(b09, {"exposed": 0.10, "ratio": 3.0})  # both boundaries
    assert accept_passes(b09, {"exposed": 0.30, "ratio": 3.0, "comparator": 0.1})  # extra quantities ignored
    assert not accept_passes(b09, {"exposed": 0.31, "ratio": 5.0})  # band fails
    assert not accept_passes(b09, {"exposed": 0.2, "ratio": math.nextafter(3.0, 0)})  # bound fails
    assert not accept_passes(b09, {"exposed": math.nan, "ratio": 5.0})
    with pytest.raises(KeyError, match="lack 'ratio'"):
        accept_passes(b09, {"exposed": 0.2})
    with pytest.raises(TypeError, match="pass a mapping with 'exposed', 'ratio'"):
        accept_passes(b09, 0.2)


def test_max_bound_and_accept_alone() -> None:
    acc = Accept.model_validate({"ratio_max": 0.7, "ratio_min": 0.45, "g": [-1, 0]})
    assert acc.quantities() == ("g", "ratio")
    assert accept_passes(acc, {"ratio": 0.7, "g": 0})
    assert not accept_passes(acc, {"ratio": 0.71, "g": 0})
    assert acc.model_dump() == {"g": [-1.0, 0.0], "ratio_max": 0.7, "ratio_min": 0.45}


# --------------------------------------------------------------------------- round trip

_text = st.text(
    st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp"), max_codepoint=0x2FFF),
    min_size=1, max_size=30,
).filter(lambda s: s.strip() != "")
_name = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)
_number = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.integers(-1000, 1000))
_band = st.lists(_number, min_size=2, max_size=2).map(sorted)
_at = st.one_of(_number, _text)


@st.composite
def _exposure(draw: st.DrawFn) -> dict:
    out: dict = {}
    what = draw(st.sampled_from(["input", "predisposition", "clamp"]))
    if what == "clamp":
        out["clamp"] = {"state": draw(_name), "value": draw(st.one_of(_number, _text))}
    else:
        out[what] = draw(_name)
    for key, strategy in (("kind", _text), ("at", _at), ("for", _text)):
        if draw(st.booleans()):
            out[key] = draw(strategy)
    return out


@st.composite
def _accept(draw: st.DrawFn) -> list | dict:
    if draw(st.booleans()):
        return draw(_band)
    bands = draw(st.dictionaries(_name.filter(lambda s: not s.endswith(("_min", "_max"))), _band, max_size=3))
    bounds = draw(st.dictionaries(st.tuples(_name, st.sampled_from(["_min", "_max"])).map("".join), _number,
                                  max_size=3, min_size=0 if bands else 1))
    for key in [k for k in bounds if k.endswith("_max")]:  # keep each min <= max
        lo = bounds.get(key[:-4] + "_min")
        if lo is not None and lo > bounds[key]:
            bounds[key] = lo
    return {**bands, **bounds}


@st.composite
def _target(draw: st.DrawFn, id: str) -> dict:
    out: dict = {
        "id": id,
        "title": draw(_text),
        "design": draw(st.sampled_from(DESIGNS)),
        "population": draw(st.one_of(st.sampled_from(["general", "fm", "controls"]), _text)),
    }
    measure: dict = {"observation": draw(_name), "statistic": draw(st.sampled_from(STATISTICS))}
    if draw(st.booleans()):
        measure["of"] = draw(_text)
    if draw(st.booleans()):
        measure["at"] = draw(_at)
    if draw(st.booleans()):
        out["exposure"] = draw(_exposure())
    if draw(st.booleans()):
        out["comparator"] = draw(st.one_of(st.just("controls"), _exposure()))
        if draw(st.booleans()):
            out["comparator_value"] = draw(_number)
    if draw(st.booleans()):
        out["challenge"] = draw(_exposure())
    out["measure"] = measure
    out["value"] = draw(st.one_of(st.none(), _number))
    if draw(st.booleans()):
        out["interval"] = draw(_band)
    out["accept"] = draw(_accept())
    out["grade"] = draw(st.sampled_from(["A", "B", "C"]))
    out["source"] = draw(_text)
    out["protocol"] = draw(_text)
    return out


@st.composite
def _target_file(draw: st.DrawFn) -> list[dict]:
    ids = draw(st.lists(st.from_regex(r"[A-Z][0-9]{2}[a-z]?", fullmatch=True), min_size=1, max_size=4, unique=True))
    return [draw(_target(i)) for i in ids]


def _same(written: object, loaded: object) -> bool:
    """Equal as data: numbers compare as floats, tuples as lists."""
    if isinstance(written, dict) and isinstance(loaded, dict):
        return written.keys() == loaded.keys() and all(_same(written[k], loaded[k]) for k in written)
    if isinstance(written, list | tuple) and isinstance(loaded, list | tuple):
        return len(written) == len(loaded) and all(_same(a, b) for a, b in zip(written, loaded, strict=True))
    if isinstance(written, int | float) and isinstance(loaded, int | float):
        return float(written) == float(loaded)
    return written == loaded


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_target_file())
def test_round_trip_through_yaml(targets: list[dict]) -> None:
    text = yaml.safe_dump({"format": "fitts-targets/1", "targets": targets}, allow_unicode=True, sort_keys=False)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "random.yaml"
        path.write_text(text, encoding="utf-8")
        ts = load_targets(path)
    assert ts.ids() == tuple(t["id"] for t in targets)
    for written, loaded in zip(targets, ts, strict=True):
        expected = {k: v for k, v in written.items() if v is not None}
        assert _same(expected, loaded.to_data()), (expected, loaded.to_data())
        assert Target.model_validate(loaded.to_data()) == loaded


def test_directional_rules_in_accept(tmp_path: Path) -> None:
    from fitts.evaluate.targets import Accept, parse_relation

    a = Accept.model_validate("lower in cases")
    assert a.named and a.quantities() == ("group", "comparator")
    assert a.passes({"group": 1.0, "comparator": 2.0}) and not a.passes({"group": 2.0, "comparator": 1.0})
    b = Accept.model_validate({"reverse": [-0.1, 0.1], "holds": ["forward larger than reverse"]})
    assert b.passes({"forward": -0.5, "reverse": 0.05})  # a magnitude rule: |forward| > |reverse|
    assert not b.passes({"forward": 0.01, "reverse": 0.05})
    assert Accept.model_validate({"holds": "treatment above placebo"}).quantities() == ("treated", "comparator")
    assert parse_relation("value below 0").right == 0.0
    assert b.model_dump() == {"reverse": [-0.1, 0.1], "holds": ["forward larger than reverse"]}
    assert a.model_dump() == "lower in cases"
    text = ONE.replace("accept: [0.01, 0.06]", 'accept: "lower somewhere"')
    with pytest.raises(ModelError, match="cannot read the rule"):
        load_targets(_write(tmp_path, text))
    with pytest.raises(ModelError, match="two numbers"):
        load_targets(_write(tmp_path, ONE.replace("accept: [0.01, 0.06]", 'accept: "1 below 2"')))
