"""The work of the workbench's background jobs: a scorecard (`fitts evaluate`) and a small trial (`fitts trial`).

Each function returns a job body for :class:`fitts.serve.jobs.JobManager`; the body writes
the same files as the CLI command into the job's folder and returns a summary.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fitts.errors import ModelError
from fitts.serve.jobs import Progress
from fitts.serve.workspace import Workspace

#: limits of what the browser may ask for (the CLI has none)
MAX_EVALUATE_PATIENTS = 20_000
MAX_TRIAL_PATIENTS = 2_000


def _int(value: Any, lo: int, hi: int, what: str) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        raise ModelError(f"{what} {str(value)[:40]!r} is not a whole number") from None
    if not lo <= n <= hi:
        raise ModelError(f"{what} {n} out of range", hint=f"give {lo} to {hi}")
    return n


def evaluate_job(ws: Workspace, key: str, patients: Any, seed: Any) -> tuple[str, Callable[[Progress, Path], dict]]:
    """Title and body of a scorecard job: the general cohort, every target, the forest plot."""
    n = _int(patients, 10, MAX_EVALUATE_PATIENTS, "patients")
    s = _int(seed, 0, 2**31 - 1, "seed")
    ws.theory_path(key)  # an unknown theory fails now, not in the job

    def work(progress: Progress, folder: Path) -> dict[str, Any]:
        from fitts.evaluate.calibrate import builtin_calibration, calibrated, load_calibration
        from fitts.evaluate.protocol import load_protocol
        from fitts.evaluate.scorecard import evaluate
        from fitts.evaluate.targets import load_targets
        from fitts.plot.forest import forest_plot

        m = ws.compiled(key)
        ts = load_targets(None)
        proto = load_protocol(None)
        cal_path = builtin_calibration(m.spec.name) if not key.endswith(".yaml") else None
        cal = load_calibration(cal_path) if cal_path is not None else None
        params, proto = calibrated(m, cal, proto, n, s)
        total = n * proto.cohort.years * 365.25
        done = [0.0]

        def on_days(d: float) -> None:
            done[0] += d
            progress(0.9 * done[0] / total)

        sc = evaluate(m, ts, protocol=proto, patients=n, seed=s, params=params, progress=on_days,
                      on_target=lambda _o: progress(0.9))
        cmd = ["fitts", "evaluate", ws.cli_name(key), "--patients", str(n), "--seed", str(s), "--out", "scorecard"]
        sc.meta["calibration"] = str(cal_path.name) if cal_path else "none"
        sc.meta["command"] = shlex.join(cmd)
        forest_plot(sc.table, folder / "forest.png", title=sc.summary())
        sc.save(folder, figure="forest.png")
        return {"theory": m.spec.name, "key": key, "summary": sc.summary(), "command": shlex.join(cmd),
                "patients": n, "seed": s}

    return f"scorecard of {key} ({n} patients, seed {s})", work


def trial_files(ws: Workspace) -> dict[str, Path]:
    """Trial files the browser may run: the packaged example."""
    from fitts.spec.load import models_dir

    return {p.name: p for p in sorted((models_dir() / "trials").glob("*.yaml"))}


def trial_job(ws: Workspace, trial: str, key: str, patients: Any, seed: Any
              ) -> tuple[str, Callable[[Progress, Path], dict]]:
    """Title and body of a small trial job on a theory (`fitts trial FILE --theory KEY`)."""
    files = trial_files(ws)
    if trial not in files:
        raise ModelError(f"no trial file {trial[:60]!r}", hint="choose one of " + ", ".join(files))
    n = _int(patients, 8, MAX_TRIAL_PATIENTS, "patients")
    s = _int(seed, 0, 2**31 - 1, "seed")
    theory = str(ws.theory_path(key)) if key.endswith(".yaml") else key

    def work(progress: Progress, folder: Path) -> dict[str, Any]:
        from fitts.run.trial import run_trial, write_trial

        res = run_trial(files[trial], theory=theory, patients=n, seed=s, chunk_size=max(8, n // 4),
                        progress=lambda done, planned: progress(0.95 * done / max(planned, 1)))
        cmd = ["fitts", "trial", trial, "--theory", ws.cli_name(key), "--patients", str(n), "--seed", str(s),
               "--out", "trial"]
        write_trial(res, folder, metadata={"command": shlex.join(cmd)})
        eff = res.effects
        end = eff[(eff["subgroup"] == "all") & (eff["timepoint"] == "end")]
        return {"theory": res.trial.model.spec.name, "key": key, "command": shlex.join(cmd),
                "summary": f"randomised {res.run.patients} of {res.run.screened} screened "
                           f"(acceptance {res.run.acceptance_rate:.1%})",
                "effects": end[["arm", "outcome", "effect", "value", "low", "high"]].round(3).to_dict("records")}

    return f"trial {trial} on {key} ({n} patients, seed {s})", work
