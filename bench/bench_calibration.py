"""Calibration benchmark: history matching against CMA-ES on a known-answer problem.

A small theory (four states; models/examples/known_answer.yaml) makes its own targets at
known knob values (other patients, seed 99). Both methods get the same number of
simulator evaluations on the same cohort:

* history matching in waves, then a CMA-ES refinement (``fitts calibrate``);
* CMA-ES alone on the scorecard loss (the previous method, :func:`calibrate`), the
  baseline measured in the same run.

Printed per method: evaluations, wall time, evaluations per hour, the distance of the
shipped knobs from the truth (unit-cube units), the largest |simulated - target| in
Monte-Carlo sd, and, for history matching, waves, the fraction of the knob box left and
whether it still holds the truth. With ``--theory NAME`` the wall time of one evaluation
of a built-in theory is measured at ``--patients`` with 1 and 2 worker processes.

Run: ``python bench/bench_calibration.py [--theory fitts --patients 1000]``
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from fitts import compile_model, load_model
from fitts.evaluate.calibrate import Calibration, Knob, calibrate, load_calibration, synthetic_targets
from fitts.evaluate.history_matching import Settings
from fitts.evaluate.protocol import load_protocol
from fitts.run.calibration import CalibrationJob, run_calibration
from fitts.run.executors import InlineExecutor, LocalExecutor
from fitts.spec.load import models_dir

EXAMPLE = models_dir() / "examples" / "known_answer.yaml"
PROTOCOL = """
format: fitts-protocol/1
cohort: {patients: 400, years: 0.4, follow_up_years: 0.1, dt: 0.1, record_every: 7, exposed_patients: 50,
         diary_patients: 10, bootstrap: 60}
everyday:
  - {input: psychosocial_stress, kind: daily, values: [0.0, 0.3, 0.6, 0.2]}
"""
TEMPLATE = """
format: fitts-targets/1
targets:
  - {id: K1, title: poor sleepers, design: prevalence, population: general, grade: C, source: template,
     protocol: prevalence, measure: {observation: psqi, statistic: proportion, of: "psqi > 5"},
     value: 0.5, accept: [0.44, 0.56]}
  - {id: K2, title: pain, design: prevalence, population: general, grade: C, source: template,
     protocol: prevalence, measure: {observation: pain_nrs, statistic: proportion, of: "pain_nrs >= 4"},
     value: 0.3, accept: [0.24, 0.36]}
  - {id: K3, title: tired, design: prevalence, population: general, grade: C, source: template,
     protocol: prevalence, measure: {observation: fatigue_scale, statistic: proportion, of: "fatigue_scale >= 5"},
     value: 0.3, accept: [0.24, 0.36]}
"""
KNOBS = [Knob(name="prior:sleep_bias.mean", range=(-2.5, 0.5)),
         Knob(name="prior:weight.sleep_disturbance -> pain.mean", range=(0.5, 4.5)),
         Knob(name="prior:weight.sleep_disturbance -> fatigue.median", range=(0.5, 4.0))]
TRUTH = [-1.0, 2.5, 2.0]


def _unit(values: list[float]) -> np.ndarray:
    return np.array([(v - k.range[0]) / (k.range[1] - k.range[0]) for v, k in zip(values, KNOBS, strict=True)])


def _worst_z(outputs: dict, targets: dict) -> float:
    return max(abs(outputs[t][0] - v) / np.sqrt(outputs[t][1] * 1.5) for t, v in targets.items())


def known_answer(folder: Path, patients: int, refine_patients: int, seed: int) -> None:
    (folder / "protocol.yaml").write_text(PROTOCOL)
    (folder / "template.yaml").write_text(TEMPLATE)
    model = compile_model(load_model(EXAMPLE))
    truth = Calibration(model.spec.name, [k.model_copy(update={"value": v}) for k, v in zip(KNOBS, TRUTH,
                                                                                               strict=True)])
    data = synthetic_targets(model, truth, folder / "template.yaml", protocol=folder / "protocol.yaml",
                             patients=2 * refine_patients, seed=99)
    (folder / "targets.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    targets = {t["id"]: t["value"] for t in data["targets"]}
    settings = Settings(wave_size=20, max_waves=5, samples=4096)
    t0 = time.perf_counter()
    hm = run_calibration(model, Calibration(model.spec.name, list(KNOBS)), model_ref=str(EXAMPLE),
                         directory=folder / "hm", targets=folder / "targets.yaml", protocol=folder / "protocol.yaml",
                         patients=patients, refine_patients=refine_patients, settings=settings,
                         refine_evaluations=8, seed=seed)
    wall_hm = time.perf_counter() - t0
    truth_kept = bool(hm.hm.impl_through(_unit(TRUTH)[None, :])[1][-1][0])
    fitted = _unit([k.value for k in hm.knobs])
    print(f"history matching: {hm.evaluations} evaluations ({len(hm.hm.waves)} waves, "
          f"{sum(len(w.runs) for w in hm.hm.waves[:1])} + later runs), {wall_hm:.0f} s, "
          f"{hm.evaluations / wall_hm * 3600:.0f} evaluations/h; stop: {hm.stop_reason}")
    for row in hm.hm.wave_table().itertuples():
        print(f"  wave {row.wave}: {row.runs} runs trained, {row.fraction:.4f} of the box left")
    print(f"  truth still non-implausible: {truth_kept}; shipped knobs {np.round(fitted, 3)} vs truth "
          f"{np.round(_unit(TRUTH), 3)} (distance {np.linalg.norm(fitted - _unit(TRUTH)):.3f}); "
          f"worst |z| of the targets {_worst_z(hm.best['outputs'], targets):.2f}")

    # the baseline: CMA-ES alone, same cohort and the same number of evaluations at the refine size
    t0 = time.perf_counter()
    res = calibrate(model, Calibration(model.spec.name, list(KNOBS)), folder / "targets.yaml",
                    protocol=load_protocol(folder / "protocol.yaml"), patients=refine_patients, seed=seed,
                    evaluations=hm.evaluations, popsize=6)
    wall_cma = time.perf_counter() - t0
    fitted_cma = _unit([k.value for k in res.calibration.knobs])
    from fitts.evaluate.calibrate import scorecard_outputs

    print(f"CMA-ES alone (baseline): {len(res.history)} evaluations, {wall_cma:.0f} s; shipped knobs "
          f"{np.round(fitted_cma, 3)} (distance {np.linalg.norm(fitted_cma - _unit(TRUTH)):.3f}); worst |z| "
          f"{_worst_z(scorecard_outputs(res.scorecard), targets):.2f}; it says nothing about the space ruled out")
    print(f"ratio of wall times (history matching / CMA-ES, same evaluations): {wall_hm / wall_cma:.2f}")


def theory_rate(theory: str, patients: int) -> None:
    knobs = load_calibration(models_dir() / "calibration" / "knobs" / f"{theory}.yaml")
    model = compile_model(load_model(theory))
    job = CalibrationJob(theory, None, None, tuple((k.name, *k.range) for k in knobs.knobs), 0, model.model_hash)
    values = np.array(list(knobs.values().values()))
    t0 = time.perf_counter()
    job((values, patients))  # compiles
    print(f"{theory}: first evaluation at {patients} patients {time.perf_counter() - t0:.0f} s (with compiling)")
    for workers in (1, 2):
        tasks = [(values, patients)] * 2 * workers
        ex = InlineExecutor() if workers == 1 else LocalExecutor(workers)
        with ex:
            t0 = time.perf_counter()
            list(ex.imap(job, tasks[:1] if workers == 1 else tasks))
            wall = time.perf_counter() - t0
        n = 1 if workers == 1 else len(tasks)
        print(f"  {workers} worker(s): {n} evaluations in {wall:.0f} s = {n / wall * 3600:.0f} evaluations/h")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=300, help="cohort of the known-answer waves")
    ap.add_argument("--refine-patients", type=int, default=800)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--theory", help="also time one evaluation of this built-in theory")
    ap.add_argument("--theory-patients", type=int, default=1000)
    args = ap.parse_args()
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; load {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        known_answer(Path(tmp), args.patients, args.refine_patients, args.seed)
    if args.theory:
        theory_rate(args.theory, args.theory_patients)


if __name__ == "__main__":
    main()
