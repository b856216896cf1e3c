"""Variants of built-in theories: include a theory by name, change it, reuse its calibration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import fitts
from fitts.errors import ModelError
from fitts.evaluate.calibrate import builtin_calibration, calibrated, for_variant, load_calibration
from fitts.evaluate.protocol import load_protocol

DOCS = Path(__file__).resolve().parents[1] / "docs" / "model-language.md"


def docs_variant() -> str:
    """The worked variant of docs/model-language.md, so the documentation is tested as written."""
    text = DOCS.read_text()
    block = text[text.index("#### A variant of a built-in theory"):]
    return re.search(r"```yaml\n(.*?)```", block, re.S).group(1)


@pytest.fixture(scope="module")
def variant(tmp_path_factory: pytest.TempPathFactory) -> fitts.Spec:
    folder = tmp_path_factory.mktemp("variant")
    (folder / "variant.yaml").write_text(docs_variant())
    return fitts.load_model(folder / "variant.yaml")


def test_a_variant_includes_a_theory_by_name_and_changes_it(variant: fitts.Spec) -> None:
    base = fitts.load_model("fitts")
    assert variant.name == "fitts_no_small_fibre" and variant.parents == ("fitts",)
    assert "salience -> small_fibre" in base.edges and "salience -> small_fibre" not in variant.edges
    assert variant.edges["soothing -> vagal"].weight != base.edges["soothing -> vagal"].weight
    assert "vagal -> descending_inhibition" in variant.edges
    assert set(variant.nodes) == set(base.nodes)
    assert base.parents == ()


def test_an_unknown_theory_or_module_name_lists_both(tmp_path: Path) -> None:
    (tmp_path / "v.yaml").write_text("fitts: 1\nincludes:\n  - module: fits\n")
    with pytest.raises(ModelError, match=r"no built-in module or theory named 'fits'\. Did you mean 'fitts'") as e:
        fitts.load_model(tmp_path / "v.yaml")
    assert "theories: fitts, integrated, sympathetic_drg" in str(e.value)


def test_a_variant_starts_from_its_parents_calibration(variant: fitts.Spec) -> None:
    model = fitts.compile_model(variant)
    proto = load_protocol()
    path = builtin_calibration(variant.name, variant.parents)
    assert path is not None and path.name == "fitts.yaml"
    cal = load_calibration(path)
    mine, dropped = for_variant(cal, model, proto)
    assert dropped == ["prior:weight.salience -> small_fibre.median"]
    assert len(mine.knobs) == len(cal.knobs) - 1 and mine.theory == variant.name
    params, _ = calibrated(model, cal, proto, 5, 0)
    assert "weight.soothing -> vagal" in params and "weight.salience -> small_fibre" not in params
    other = fitts.compile_model(fitts.load_model("sympathetic_drg"))
    with pytest.raises(ModelError, match="calibration is for theory 'fitts'"):
        calibrated(other, cal, proto, 5, 0)


def test_a_folder_named_like_a_theory_does_not_hide_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fitts").mkdir()
    monkeypatch.chdir(tmp_path)
    assert fitts.load_model("fitts").name == "fitts"
