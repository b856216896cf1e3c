"""Protocol files: the built-in protocol, errors naming file and line, knobs, durations."""

from __future__ import annotations

import pytest

from fitts.errors import ModelError
from fitts.evaluate.phrases import NotExpressible, read_duration
from fitts.evaluate.protocol import load_protocol


def test_builtin_protocol_defines_every_exposure_kind_of_the_calibration_targets() -> None:
    from fitts.evaluate.targets import load_targets

    p = load_protocol()
    for t in load_targets():
        for exp in (t.exposure, t.comparator if not isinstance(t.comparator, str) else None):
            # An exposure that names an intervention is carried out by the theory's own
            # treatment, not by the protocol's list of stressors.
            if exp is not None and exp.kind is not None and exp.intervention is None:
                assert p.exposure(exp.kind) is not None, (t.id, exp.kind)
        if t.exposure is not None and t.exposure.predisposition is not None:
            assert t.exposure.predisposition in p.predispositions


@pytest.mark.parametrize(("text", "days"), [("12 months", 365.25), ("6 months", 182.625),
                                            ("1 night (total deprivation)", 1.0), ("2-week", 14.0),
                                            (3, 3.0), ("1.5 years", 547.875)])
def test_durations_in_words(text, days) -> None:
    assert read_duration(text, "challenge.for") == pytest.approx(days)


def test_an_unreadable_duration_is_not_expressible_never_the_default() -> None:
    with pytest.raises(NotExpressible, match="at diagnosis"):
        read_duration("at diagnosis", "challenge.for", 7.0)


def test_knob_changes_and_bad_knob() -> None:
    p = load_protocol()
    q = p.with_changes({"everyday.1.rate_per_year": 0.7, "exposures.neck injury.1.level": 2.5,
                        "everyday.1.magnitude.median": 1.7})
    assert q.everyday[1].rate_per_year == 0.7
    assert q.everyday[1].magnitude.median == 1.7
    assert q.exposures["neck injury"].components[1].level == 2.5
    assert p.everyday[1].rate_per_year != 0.7  # the original is untouched
    with pytest.raises(ModelError, match="names nothing"):
        p.with_changes({"everyday.9.rate_per_year": 1.0})


def test_bad_protocol_file_names_file_line_and_field(tmp_path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("format: fitts-protocol/1\ncohort:\n  patients: 100\n  yeers: 3\n")
    with pytest.raises(ModelError) as exc:
        load_protocol(f)
    text = str(exc.value)
    assert "p.yaml" in text and "yeers" in text and ":4" in text


def test_not_a_protocol_file(tmp_path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("format: fitts-targets/1\n")
    with pytest.raises(ModelError, match="not a protocol file"):
        load_protocol(f)
