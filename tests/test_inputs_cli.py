"""Command-line options and paths: every bad value ends in one clean line and exit 2.

Issue 18, items 4, 9, 10-13, 15.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import typer
from helpers import TWO_NODE, write
from typer.testing import CliRunner, Result

from fitts.cli import app
from fitts.cli.options import CheckedGroup, finite_value
from fitts.errors import MissingExtraError, require


def runner() -> CliRunner:
    """A runner keeping stderr apart (click < 8.2 mixes it into the output unless told not to)."""
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        return CliRunner()


UNEXPECTED = re.compile(r"unexpected [A-Z]\w*(Error|Exception)")

FAST = ["--days", "2", "--dt", "0.1", "--record-every", "1", "--patients", "2", "--backend", "numpy"]


def run(*args: str | Path, cwd: Path | None = None) -> Result:
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return runner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    finally:
        os.chdir(old)


def assert_clean(r: Result, code: int = 2) -> str:
    """Exit `code`, one short error on stderr, no traceback, no 'unexpected', no raw control characters."""
    text = r.stderr
    assert r.exit_code == code, (r.exit_code, r.output, text)
    assert "Traceback" not in text and not UNEXPECTED.search(text), text
    assert not any(c in text for c in "\x1b\x07\x00"), text
    assert len(text) < 3000
    return text


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return write(tmp_path, "two.yaml", TWO_NODE)


def test_simulate_runs(model: Path, tmp_path: Path) -> None:
    r = run("simulate", model, "--out", tmp_path / "sub" / "r.nc", *FAST)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "sub" / "r.nc").exists()


@pytest.mark.parametrize("opts", [
    ["--days", "inf"], ["--days", "nan"], ["--days", "1e308"], ["--days", "-1"],
    ["--dt", "inf"], ["--dt", "1e-300"], ["--dt", "nan"], ["--record-every", "1e-300"],
    ["--record-every", "inf"], ["--seed", "1e30"], ["--seed", "1" + "0" * 30],
    ["--patients", "1" + "0" * 30],
    ["--intervention", "calm@nan:inf"], ["--intervention", "calm@1e308"], ["--intervention", "calm@-1"],
    ["--intervention", "calm@5:3"], ["--intervention", "calm@1:1e999"],
])
def test_simulate_options_out_of_range(model: Path, tmp_path: Path, opts: list[str]) -> None:
    out = tmp_path / "r.nc"
    args = [a for a in FAST]
    for i in range(0, len(opts), 2):
        if opts[i] in args:
            j = args.index(opts[i])
            del args[j:j + 2]
    r = run("simulate", model, "--out", out, *args, *opts)
    assert_clean(r)
    assert not out.exists()
    assert not list(tmp_path.glob(".r.nc*"))


def test_simulate_out_must_be_netcdf(model: Path, tmp_path: Path) -> None:
    r = run("simulate", model, "--out", tmp_path / "x.csv", *FAST)
    assert ".nc" in assert_clean(r)
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("case", ["folder", "file_parent", "dot", "unwritable", "missing_in_unwritable"])
@pytest.mark.parametrize("command", ["simulate", "population", "trial"])
def test_bad_output_paths(model: Path, tmp_path: Path, case: str, command: str) -> None:
    if case in ("unwritable", "missing_in_unwritable") and os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    suffix = {"simulate": ".nc", "population": ".parquet", "trial": ""}[command]
    blocker = write(tmp_path, "blocker", "x")
    locked = tmp_path / "locked"
    locked.mkdir()
    (tmp_path / "existing").mkdir()
    if case == "folder":
        out = tmp_path / "existing" if command != "trial" else blocker
    elif case == "file_parent":
        out = blocker / f"r{suffix}"
    elif case == "dot":
        out = Path(".") if command != "trial" else Path("blocker")
    elif case == "unwritable":
        locked.chmod(0o500)
        out = locked / f"r{suffix}"
    else:
        locked.chmod(0o500)
        out = locked / "deeper" / f"r{suffix}"
    try:
        if command == "simulate":
            r = run("simulate", model, "--out", out, *FAST, cwd=tmp_path)
        elif command == "population":
            r = run("population", "fitts", "--out", out, "--patients", "2", cwd=tmp_path)
        else:
            r = run("trial", str(_trial_example()), "--out", out, cwd=tmp_path)
        text = assert_clean(r)
        assert "--out" in text
        leftovers = [p.name for p in tmp_path.rglob("*") if p.name.startswith(".") or "checkpoint" in p.name]
        assert leftovers == []
    finally:
        locked.chmod(0o700)


def _trial_example() -> Path:
    from fitts.spec.load import models_dir

    return models_dir() / "trials" / "example.yaml"


@pytest.mark.parametrize("kind", ["deep", "fifo", "dev", "long", "folder"])
def test_schedule_option_bad_files(model: Path, tmp_path: Path, kind: str) -> None:
    if kind == "deep":
        sched = write(tmp_path, "s.yaml", "[" * 300 + "]" * 300)
    elif kind == "fifo":
        sched = tmp_path / "s.yaml"
        os.mkfifo(sched)
    elif kind == "dev":
        sched = Path("/dev/zero")
    elif kind == "long":
        sched = tmp_path / ("s" * 300)
    else:
        sched = tmp_path
    r = run("simulate", model, "--out", tmp_path / "r.nc", "--schedule", sched, *FAST)
    assert_clean(r)


@pytest.mark.parametrize("arg", ["m" * 300, "a\x00b", "/dev/zero", "/proc/self/mem"])
def test_model_argument_bad_paths(arg: str) -> None:
    assert_clean(run("validate", arg))


def test_trial_theory_with_control_characters_is_escaped(tmp_path: Path) -> None:
    p = write(tmp_path, "t.yaml", 'format: fitts-trial/1\nname: t\ntheory: "\\e]0;pwned\\a\\e[2J"\npatients: 10\n'
              "duration_days: 7\narms: [{name: a}, {name: b}]\n")
    text = assert_clean(run("trial", p, "--out", tmp_path / "o"))
    assert "\\x1b]0;pwned\\x07" in text
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("everyday", ["/etc/passwd", "missing.yaml", ".", "t.yaml"])
def test_trial_everyday_must_be_a_protocol_file(tmp_path: Path, everyday: str) -> None:
    p = write(tmp_path, "t.yaml", f'format: fitts-trial/1\nname: t\ntheory: fitts\npatients: 10\n'
              f'duration_days: 7\npopulation: {{everyday: "{everyday}"}}\narms: [{{name: a}}, {{name: b}}]\n')
    text = assert_clean(run("trial", p, "--out", tmp_path / "o"))
    assert "t.yaml:6" in text and "everyday" in text, text


def test_trial_everyday_protocol_relative_to_the_trial_file(tmp_path: Path) -> None:
    from fitts.evaluate.protocol import protocol_path
    from fitts.trials.spec import load_trial

    sub = tmp_path / "trials"
    sub.mkdir()
    (sub / "life.yaml").write_text(protocol_path().read_text())
    p = write(sub, "t.yaml", 'format: fitts-trial/1\nname: t\ntheory: fitts\npatients: 10\n'
              'duration_days: 7\npopulation: {everyday: life.yaml}\narms: [{name: a}, {name: b}]\n')
    t = load_trial(p)
    assert len(t.everyday) > 0


@pytest.mark.parametrize("field,value", [("duration_days", ".inf"), ("duration_days", "1e308"),
                                         ("duration_days", "1e999"), ("follow_up_days", ".inf"),
                                         ("follow_up_days", "1e308"), ("duration_days", ".nan"),
                                         ("seed", "100000000000000000000")])
def test_trial_durations_out_of_range(tmp_path: Path, field: str, value: str) -> None:
    extra = "duration_days: 7\n" if field != "duration_days" else ""
    p = write(tmp_path, "t.yaml", f"format: fitts-trial/1\nname: t\ntheory: fitts\npatients: 10\n{extra}"
              f"{field}: {value}\narms: [{{name: a}}, {{name: b}}]\n")
    text = assert_clean(run("trial", p, "--out", tmp_path / "o"))
    assert "t.yaml:" in text


def test_finite_value() -> None:
    assert finite_value(2.5, "--x") == 2.5
    assert finite_value((1.0, 2), "--x") == (1.0, 2)
    for bad in (float("nan"), float("inf"), -float("inf"), 10**30, [1.0, float("nan")]):
        with pytest.raises(typer.BadParameter):
            finite_value(bad, "--x")


@pytest.mark.parametrize("args", [["bifurcate", "fitts", "--param", "k", "--span", "nan", "1"],
                                  ["calibrate", "fitts", "--cutoff", "nan"],
                                  ["within", "fitts", "--alpha", "nan"],
                                  ["population", "fitts", "--out", "p.parquet", "--run-in-days", "inf"],
                                  ["design", "fitts", "integrated", "--out", "d", "--challenge-level", "inf"]])
def test_every_command_refuses_nonfinite_numbers(tmp_path: Path, args: list[str]) -> None:
    text = assert_clean(run(*args, cwd=tmp_path))
    assert "finite" in text or "range" in text or "Invalid value" in text, text
    assert list(tmp_path.iterdir()) == []


def test_missing_extra_is_a_clean_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "tigramite", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'fitts\[diary\]'"):
        require("tigramite", "diary", "fitts within")

    sub = typer.Typer(cls=CheckedGroup)

    @sub.command()
    def needs() -> None:
        import tigramite  # noqa: F401

    @sub.command()
    def other() -> None:
        pass

    r = runner().invoke(sub, ["needs"])
    assert r.exit_code == 2, r.output
    assert "fitts[diary]" in r.stderr


def test_trial_needs_no_extra() -> None:
    """statsmodels (used by every trial analysis) is a base dependency."""
    import tomllib

    meta = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    base = " ".join(meta["project"]["dependencies"])
    assert "statsmodels" in base
