"""Messages users read: `show` lists parameters and interventions; thresholds are put in words;
shared options mean the same in every command."""

from __future__ import annotations

import re

import pytest

from fitts.cli import app, describe_thresholds
from tests.test_cli_patient import run


def test_show_lists_parameters_and_interventions(capsys) -> None:
    code, out, err = run(capsys, "show", "fitts")
    assert code == 0, err
    assert re.search(r"\d+ parameters", out) and "early_adversity" in out
    assert re.search(r"\d+ interventions", out) and "compassion" in out


@pytest.mark.parametrize(("onset", "recovery", "expected"), [
    (0.83, -0.75, "the ill state persists at any non-negative stress"),
    (2.0, 0.5, "ratio onset/recovery: 4; hysteresis width: 1.5"),
    (None, 0.5, "no hysteresis in this range (no onset threshold)"),
])
def test_thresholds_in_words(onset, recovery, expected) -> None:
    ratio = onset / recovery if onset and recovery and recovery > 0 else float("nan")
    width = onset - recovery if onset is not None and recovery is not None else float("nan")
    text = describe_thresholds(onset, recovery, ratio, width)
    assert expected in text and "nan" not in text


def test_seed_and_dt_mean_the_same_in_every_command() -> None:
    import inspect
    import typing

    seen: dict[str, set[tuple]] = {"--seed": set(), "--dt": set()}
    for info in app.registered_commands:
        hints = typing.get_type_hints(info.callback, include_extras=True)
        for name, param in inspect.signature(info.callback).parameters.items():
            for meta in getattr(hints[name], "__metadata__", ()):
                # in `Annotated[..., typer.Option("--seed", ...)]` the first argument lands in `default`
                decls = (*(getattr(meta, "param_decls", ()) or ()), getattr(meta, "default", None))
                for opt in seen:
                    if opt in decls:
                        default = 0 if param.default is None else param.default  # trial: the file's seed
                        seen[opt].add((default, getattr(meta, "min", None), getattr(meta, "help", "")[:40]))
    assert {(d, m) for d, m, _ in seen["--seed"]} == {(0, 0)}
    assert len(seen["--dt"]) == 1 and next(iter(seen["--dt"]))[0] == 0.05
