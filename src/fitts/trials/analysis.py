"""Trial outcomes and effect sizes: per patient, per arm over time, and against control.

Outcomes per patient (from the visits of :func:`fitts.trials.simulate.trial_chunk`)
----------------------------------------------------------------------------------
- baseline: the visit at day 0; ``end``: the visit at the end of treatment; ``follow_up``:
  the last visit. A dropout's missing visits are imputed by the last observation
  carried forward (LOCF, intention to treat).
- change in pain NRS and FIQR from baseline (negative = improvement);
- responders: pain NRS reduced by at least 30 % (50 %) from baseline at the time point;
  a patient who dropped out before it, or had no pain at baseline, is a non-responder.

Effect sizes (each arm against the control arm, overall and per subtype)
-----------------------------------------------------------------------
- Hedges' g of the change, (mean arm - mean control) / pooled SD with the small-sample
  correction, and its 95 % interval from the large-sample variance (statsmodels
  ``effectsize_smd``); negative g favours the arm.
- Risk difference of responders, arm - control, with Newcombe's hybrid-score 95 %
  interval (statsmodels ``confint_proportions_2indep``); NNT = 1 / RD, and its interval
  is the reciprocal of the RD interval when that interval excludes 0 (otherwise the
  NNT interval is unbounded and reported as NaN; Altman BMJ 1998;317:1309).

Subtypes are the combinations of predispositions carried (see
:func:`fitts.trials.simulate.subtype_codes`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from statsmodels.stats.meta_analysis import effectsize_smd
from statsmodels.stats.proportion import confint_proportions_2indep

from .simulate import OUTCOMES, subtype_label, visit_times
from .spec import Trial

#: time-course sums are kept in units of 1/QUANTUM, as integers (exact in any order)
QUANTUM = 100
Z95 = 1.959963984540054


def _locf(x: np.ndarray, upto: int) -> np.ndarray:
    """Last observed value at or before visit `upto`, per row of x (n, n_visits)."""
    seg = x[:, : upto + 1]
    seen = ~np.isnan(seg)
    last = np.where(seen.any(axis=1), seg.shape[1] - 1 - np.argmax(seen[:, ::-1], axis=1), 0)
    return seg[np.arange(len(seg)), last]


def patient_outcomes(trial: Trial, chunk: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-patient outcomes of one chunk: baseline, end and follow-up values and changes
    (LOCF), responders; plus the chunk's ``patient``, ``arm``, ``subtype``, ``status``,
    ``dropout``. All arrays shape (n,)."""
    times = visit_times(trial)
    end = int(round(trial.spec.duration_days / trial.spec.assess_every_days))
    points = {"end": end, "follow_up": len(times) - 1}
    out: dict[str, np.ndarray] = {k: np.asarray(chunk[k]) for k in ("patient", "arm", "subtype", "status", "dropout")}
    for k in OUTCOMES:
        x = np.asarray(chunk[k], dtype=float)
        out[f"{k}_baseline"] = x[:, 0]
        for tp, v in points.items():
            val = _locf(x, v)
            out[f"{k}_{tp}"] = val
            out[f"{k}_change_{tp}"] = val - x[:, 0]
    nrs = np.asarray(chunk["pain_nrs"], dtype=float)
    dropout = out["dropout"]
    for tp, v in points.items():
        present = (dropout < 0) | (dropout > v)
        with np.errstate(invalid="ignore", divide="ignore"):
            reduction = (nrs[:, 0] - nrs[:, v]) / nrs[:, 0]
        for f in trial.spec.outcomes.responders:
            ok = present & (nrs[:, 0] > 0) & (reduction >= f - 1e-12)
            out[f"responder_{round(100 * f)}_{tp}"] = ok.astype(np.int8)
    return out


class TimeCourse:
    """Observed-case means of each outcome per arm and visit, summed exactly across chunks."""

    def __init__(self, trial: Trial):
        self.trial = trial
        n_arms, n_v = len(trial.spec.arms), len(visit_times(trial))
        self.count = np.zeros((n_arms, n_v), dtype=np.int64)
        self.sums = {k: np.zeros((n_arms, n_v), dtype=np.int64) for k in OUTCOMES}

    def add(self, chunk: Mapping[str, np.ndarray], keep: int | None = None) -> None:
        """Add the first `keep` patients of a chunk (all by default)."""
        arm = np.asarray(chunk["arm"])[:keep]
        ok = (np.asarray(chunk["status"])[:keep] == 0)
        for a in range(self.count.shape[0]):
            sel = ok & (arm == a)
            first = np.asarray(chunk[OUTCOMES[0]])[:keep][sel]
            self.count[a] += (~np.isnan(first)).sum(axis=0)
            for k in OUTCOMES:
                x = np.asarray(chunk[k], dtype=np.float64)[:keep][sel]
                self.sums[k][a] += np.nansum(np.round(x * QUANTUM), axis=0).astype(np.int64)

    def table(self) -> pd.DataFrame:
        """Tidy table: arm, day, n observed, mean of each outcome."""
        rows = []
        times = visit_times(self.trial)
        for a, arm in enumerate(self.trial.spec.arms):
            for v, t in enumerate(times):
                n = int(self.count[a, v])
                row = {"arm": arm.name, "day": float(t), "n_observed": n}
                for k in OUTCOMES:
                    row[f"{k}_mean"] = self.sums[k][a, v] / QUANTUM / n if n else float("nan")
                rows.append(row)
        return pd.DataFrame(rows)


def _g(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    if len(x) < 2 or len(y) < 2:
        return (float("nan"),) * 3
    g, var = effectsize_smd(np.mean(x), np.std(x, ddof=1), len(x), np.mean(y), np.std(y, ddof=1), len(y))
    g, se = float(g), float(np.sqrt(var))
    return g, g - Z95 * se, g + Z95 * se


def _rd(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    if len(x) == 0 or len(y) == 0:
        return (float("nan"),) * 3
    cx, cy = int(x.sum()), int(y.sum())
    rd = cx / len(x) - cy / len(y)
    low, high = confint_proportions_2indep(cx, len(x), cy, len(y), method="newcomb", compare="diff")
    return float(rd), float(low), float(high)


def _nnt(rd: float, low: float, high: float) -> tuple[float, float, float]:
    with np.errstate(divide="ignore"):
        nnt = 1.0 / rd if rd != 0 else float("inf")
    if low > 0 or high < 0:
        return nnt, 1.0 / high, 1.0 / low
    return nnt, float("nan"), float("nan")


def effect_sizes(trial: Trial, patients: pd.DataFrame) -> pd.DataFrame:
    """Effect of every arm against the control arm, overall and per subtype.

    Parameters
    ----------
    patients
        The per-patient table (:func:`patient_outcomes` of every chunk, with arm and
        subtype as names); patients whose simulation failed are excluded.

    Returns
    -------
    pandas.DataFrame
        One row per (arm, subgroup, outcome, time point): n and mean (or proportion) in
        arm and control, the effect (``hedges_g`` or ``risk_difference``), its 95 %
        interval, and for responders the NNT with its interval.
    """
    spec = trial.spec
    control = spec.arms[spec.control].name
    ok = patients[patients["status"] == 0]
    groups: list[tuple[str, pd.DataFrame]] = [("all", ok)]
    if spec.outcomes.subtypes != "none":
        groups += [(str(name), df) for name, df in ok.groupby("subtype", sort=True)]
    rows = []
    resp = [round(100 * f) for f in spec.outcomes.responders]
    for arm in spec.arms:
        if arm.name == control:
            continue
        for sub, df in groups:
            x_df, y_df = df[df["arm"] == arm.name], df[df["arm"] == control]
            for tp in ("end", "follow_up"):
                if tp == "follow_up" and spec.follow_up_days == 0:
                    continue
                base = {"arm": arm.name, "control": control, "subgroup": sub, "timepoint": tp,
                        "n_arm": len(x_df), "n_control": len(y_df)}
                for k in OUTCOMES:
                    x, y = x_df[f"{k}_change_{tp}"].to_numpy(float), y_df[f"{k}_change_{tp}"].to_numpy(float)
                    g, lo, hi = _g(x, y)
                    rows.append({**base, "outcome": f"{k}_change", "effect": "hedges_g",
                                 "arm_value": float(np.mean(x)) if len(x) else float("nan"),
                                 "control_value": float(np.mean(y)) if len(y) else float("nan"),
                                 "value": g, "low": lo, "high": hi,
                                 "nnt": float("nan"), "nnt_low": float("nan"), "nnt_high": float("nan")})
                for r in resp:
                    col = f"responder_{r}_{tp}"
                    x, y = x_df[col].to_numpy(), y_df[col].to_numpy()
                    rd, lo, hi = _rd(x, y)
                    nnt, nlo, nhi = _nnt(rd, lo, hi) if np.isfinite(rd) else (float("nan"),) * 3
                    rows.append({**base, "outcome": f"responder_{r}", "effect": "risk_difference",
                                 "arm_value": float(np.mean(x)) if len(x) else float("nan"),
                                 "control_value": float(np.mean(y)) if len(y) else float("nan"),
                                 "value": rd, "low": lo, "high": hi, "nnt": nnt, "nnt_low": nlo, "nnt_high": nhi})
    return pd.DataFrame(rows)


def arm_summary(trial: Trial, patients: pd.DataFrame) -> pd.DataFrame:
    """Per arm: randomised, failed, dropouts, baseline means and mean changes (LOCF)."""
    rows = []
    for arm in trial.spec.arms:
        df = patients[patients["arm"] == arm.name]
        ok = df[df["status"] == 0]
        row = {"arm": arm.name, "interventions": ", ".join(u.name for u in arm.interventions) or "(none)",
               "randomised": len(df), "failed": int((df["status"] != 0).sum()),
               "dropouts": int((ok["dropout"] >= 0).sum())}
        for k in OUTCOMES:
            row[f"{k}_baseline"] = float(ok[f"{k}_baseline"].mean()) if len(ok) else float("nan")
            row[f"{k}_change_end"] = float(ok[f"{k}_change_end"].mean()) if len(ok) else float("nan")
        for f in trial.spec.outcomes.responders:
            col = f"responder_{round(100 * f)}_end"
            row[col] = float(ok[col].mean()) if len(ok) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def label_table(trial: Trial, columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The per-patient table with arm and subtype names instead of codes."""
    df = pd.DataFrame(dict(columns))
    names = np.array([a.name for a in trial.spec.arms])
    df["arm"] = names[df["arm"].to_numpy(int)] if len(df) else pd.Series([], dtype=str)
    codes = df["subtype"].to_numpy(np.int64)
    labels = {int(c): subtype_label(trial, int(c)) for c in np.unique(codes)}
    df["subtype"] = [labels[int(c)] for c in codes]
    return df
