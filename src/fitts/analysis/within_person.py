"""Within-person analyses of diary data, and how they compare with a theory's causal graph.

Two analyses of a diary table (:mod:`fitts.observe.diary`, columns ``patient, day, prompt,
time, measure, value``), at two levels:

``prompt``
    Momentary measures, prompt to next prompt of the same day (no lag crosses a night).
``day``
    Daily means of the momentary measures, and the nightly measures of the night *before*
    each day. A nightly measure leads the same day ("night sleep -> next-day pain"); a day
    leads the next night ("day pain -> next-night sleep"); measures of the same kind lead
    the next day (night).

:func:`lagged_mlm` fits one lagged multilevel model per directed pair (cause -> effect)
with statsmodels' ``mixedlm``: ``effect_t ~ cause_lag_c + effect_lag_c + cause_mean``,
where ``_c`` is centred on the person's mean (within-person effect), ``cause_mean`` is the
person's mean (between-person effect), a random intercept per person and a random slope of
``cause_lag_c`` (dropped, and reported so, when it cannot be estimated).

:func:`pcmci_links` runs PCMCI (tigramite, ``ParCorr``) on the same data, one dataset per
person (series standardised per person; nights are gaps that no lag crosses).

:func:`compare_with_truth` sets both against the theory's true graph (:func:`true_links`):
a link ``X -> Y`` between two measures is *true* when the model has a direct edge from a
state that X reads to a state that Y reads (the states an instrument reads are its
``states``; for a model observation, the states in its expression). Its expected sign is
the edge's sign times the directions in which X and Y move with those states (sleep quality
falls with sleep disturbance, for example). A found link without such an edge is
*indirect* when a directed path joins the states through states no diary measure reads
(an unmeasured mediator), else *spurious*.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from fitts.analysis.graph import signed_graph
from fitts.compile.compiled import CompiledModel
from fitts.errors import DataError
from fitts.observe.diary import COLUMNS, measure_direction, measure_states

LEVELS = ("prompt", "day")
#: status of a link after comparison with the true graph
STATUSES = ("recovered", "wrong_sign", "missed", "indirect", "spurious", "absent")


@dataclass(frozen=True)
class Measures:
    """The momentary and nightly measures of a diary table."""

    momentary: tuple[str, ...]
    nightly: tuple[str, ...]

    def at(self, level: str) -> tuple[str, ...]:
        return self.momentary if level == "prompt" else (*self.nightly, *self.momentary)


def diary_measures(diary: pd.DataFrame) -> Measures:
    """Momentary (prompt >= 1) and nightly (prompt 0) measures of a diary table, in order."""
    missing = [c for c in COLUMNS if c not in diary.columns]
    if missing:
        raise DataError(f"a diary table needs columns {', '.join(COLUMNS)}; missing: {', '.join(missing)}")
    names = diary["measure"].astype(str)
    order = list(dict.fromkeys(names))
    prompt = diary["prompt"].to_numpy()
    night = set(names[prompt == 0])
    day = set(names[prompt > 0])
    both = night & day
    if both:
        raise DataError(f"measure {sorted(both)[0]!r} appears both at prompt 0 (night) and at prompts >= 1")
    return Measures(tuple(m for m in order if m in day), tuple(m for m in order if m in night))


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise DataError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")


def occasions(diary: pd.DataFrame, level: str) -> pd.DataFrame:
    """Wide table, one row per patient and occasion (prompt, or day), one column per measure.

    ``prompt``: rows (patient, day, prompt >= 1) of the momentary measures. ``day``: rows
    (patient, day) of the daily means of the momentary measures (NaN when every prompt of the
    day was missed) and the nightly measures of the night before the day.
    """
    _check_level(level)
    ms = diary_measures(diary)
    d = diary.assign(measure=diary["measure"].astype(str))
    if level == "prompt":
        mom = d[d["prompt"] > 0]
        w = mom.pivot_table(index=["patient", "day", "prompt"], columns="measure", values="value",
                            aggfunc="first", dropna=False)
        w = w.reindex(columns=list(ms.momentary))
        return w.reset_index().rename_axis(columns=None)
    means = d[d["prompt"] > 0].groupby(["patient", "day", "measure"])["value"].mean().unstack("measure")
    nights = d[d["prompt"] == 0].pivot_table(index=["patient", "day"], columns="measure", values="value",
                                             aggfunc="first", dropna=False)
    w = nights.join(means, how="outer") if len(nights.columns) else means
    w = w.reindex(columns=list(ms.at("day")))
    return w.reset_index().rename_axis(columns=None)


def _lag_label(level: str, cause_night: bool, effect_night: bool) -> str:
    if level == "prompt":
        return "next prompt"
    if cause_night and not effect_night:
        return "same day (night before)"
    if effect_night and not cause_night:
        return "next night"
    return "next night" if effect_night else "next day"


def lagged_pairs(diary: pd.DataFrame, cause: str, effect: str, level: str, *,
                 occ: pd.DataFrame | None = None, measures: Measures | None = None) -> pd.DataFrame:
    """Rows (patient, y, y_lag, x_lag) of one directed pair, lagged as the level says.

    ``prompt``: x and y at the previous prompt of the same day. ``day``: a nightly cause
    leading a day effect is taken on the same day (the night before it); otherwise the cause
    is taken on the previous day; ``y_lag`` is always the effect on the previous day (or
    prompt). Rows with any value missing are dropped. `occ` and `measures` may pass the
    diary's :func:`occasions` at this level and its :func:`diary_measures`, computed once.
    """
    _check_level(level)
    ms = measures or diary_measures(diary)
    names = ms.at(level)
    for v in (cause, effect):
        if v not in names:
            raise DataError(f"measure {v!r} is not in the diary at the {level} level (measures: {', '.join(names)})")
    if cause == effect:
        raise DataError(f"cause and effect are the same measure {cause!r}")
    w = occasions(diary, level) if occ is None else occ
    key = ["patient", "day", "prompt"] if level == "prompt" else ["patient", "day"]
    w = w.sort_values(key)
    group = ["patient", "day"] if level == "prompt" else ["patient"]
    step = "prompt" if level == "prompt" else "day"
    prev = w.groupby(group)[[cause, effect, step]].shift(1)
    consecutive = (w[step] - prev[step]) == 1
    y_lag = prev[effect]
    same_time = level == "day" and cause in ms.nightly and effect not in ms.nightly
    x_lag = w[cause] if same_time else prev[cause]
    out = pd.DataFrame({"patient": w["patient"], "y": w[effect], "y_lag": y_lag, "x_lag": x_lag})
    out = out[consecutive.to_numpy()]
    return out.dropna().reset_index(drop=True)


def _fit_one(df: pd.DataFrame, random_slope: bool) -> tuple[object, bool]:
    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = smf.mixedlm("y ~ x_c + ylag_c + x_pm", df, groups=df["patient"],
                            re_formula="~x_c" if random_slope else "1")
        try:
            res = model.fit(method=["lbfgs", "powell"], reml=True)
        except (np.linalg.LinAlgError, ValueError):
            return None, False
    # a variance on the boundary (e.g. no between-person spread) is a valid fit, not a failure
    converged = bool(getattr(res, "converged", True)) and not any(
        issubclass(w.category, ConvergenceWarning) and "converge" in str(w.message) for w in caught)
    return res, converged


def lagged_mlm(diary: pd.DataFrame, *, level: str = "prompt",
               pairs: Iterable[tuple[str, str]] | None = None, alpha: float = 0.05,
               random_slope: bool = True) -> pd.DataFrame:
    """Lagged multilevel models, one per directed pair of measures.

    Parameters
    ----------
    diary
        A diary table (:data:`fitts.observe.diary.COLUMNS`).
    level
        ``prompt`` or ``day`` (see the module docstring).
    pairs
        Directed pairs (cause, effect); default every ordered pair of the level's measures.
    alpha
        Level of the confidence intervals and of ``found`` (two-sided p < alpha).
    random_slope
        Fit a random slope of the lagged cause (falls back to a random intercept only when
        the slope variance cannot be estimated; column ``random_slope`` says which).

    Returns
    -------
    pandas.DataFrame
        One row per pair: ``cause, effect, level, lag, estimate`` (within-person fixed effect,
        effect units per cause unit), ``se, ci_low, ci_high, p, std_estimate`` (estimate times
        the within-person sd of the cause over that of the effect), ``found``, ``n_obs,
        n_patients, random_slope, converged``.
    """
    from scipy import stats

    _check_level(level)
    ms = diary_measures(diary)
    names = ms.at(level)
    pairs = [(a, b) for a in names for b in names if a != b] if pairs is None else list(pairs)
    z = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for cause, effect in pairs:
        df = lagged_pairs(diary, cause, effect, level)
        row = {"cause": cause, "effect": effect, "level": level,
               "lag": _lag_label(level, cause in ms.nightly, effect in ms.nightly),
               "estimate": np.nan, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan,
               "std_estimate": np.nan, "found": False, "n_obs": len(df),
               "n_patients": int(df["patient"].nunique()) if len(df) else 0,
               "random_slope": False, "converged": False}
        if len(df) >= 10 and row["n_patients"] >= 2:
            g = df.groupby("patient")
            df = df.assign(x_pm=g["x_lag"].transform("mean"))
            df["x_c"] = df["x_lag"] - df["x_pm"]
            df["ylag_c"] = df["y_lag"] - g["y_lag"].transform("mean")
            sd_x = float(df["x_c"].std())
            sd_y = float((df["y"] - g["y"].transform("mean")).std())
            if sd_x > 0 and sd_y > 0:
                res, conv, slope = None, False, False
                if random_slope:
                    res, conv = _fit_one(df, True)
                    slope = res is not None and conv
                if not slope:
                    res, conv = _fit_one(df, False)
                if res is not None:
                    with warnings.catch_warnings():  # a singular fit has no standard error: NaN
                        warnings.simplefilter("ignore", RuntimeWarning)
                        est, se = float(res.fe_params["x_c"]), float(res.bse_fe["x_c"])
                    p = float(2 * stats.norm.sf(abs(est / se))) if se > 0 else np.nan
                    row.update(estimate=est, se=se, ci_low=est - z * se, ci_high=est + z * se, p=p,
                               std_estimate=est * sd_x / sd_y, found=bool(p < alpha),
                               random_slope=slope, converged=conv)
        rows.append(row)
    return pd.DataFrame(rows)


def _series(diary: pd.DataFrame, level: str, gap: int) -> tuple[dict[int, np.ndarray], list[str], list[int]]:
    """Per-patient arrays (T, N) standardised per person, NaN for missing, `gap` NaN rows
    between days at the prompt level. Patients with a constant measure are left out."""
    ms = diary_measures(diary)
    names = list(ms.at(level))
    w = occasions(diary, level)
    data: dict[int, np.ndarray] = {}
    dropped: list[int] = []
    key = ["day", "prompt"] if level == "prompt" else ["day"]
    for pid, sub in w.groupby("patient", sort=True):
        sub = sub.sort_values(key)
        x = sub[names].to_numpy(dtype=float)
        if level == "prompt":
            blocks = []
            for _, day in sub.groupby("day", sort=True):
                blocks.append(day[names].to_numpy(dtype=float))
                blocks.append(np.full((gap, len(names)), np.nan))
            x = np.concatenate(blocks)
        else:
            days = sub["day"].to_numpy()
            full = np.full((int(days.max() - days.min()) + 1, len(names)), np.nan)
            full[days - days.min()] = x
            x = full
        mu, sd = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
        if not np.all(np.isfinite(sd) & (sd > 0)):
            dropped.append(int(pid))
            continue
        data[int(pid)] = (x - mu) / sd
    return data, names, dropped


MISSING_FLAG = -999999.0


def pcmci_links(diary: pd.DataFrame, *, level: str = "prompt", tau_max: int = 1, alpha: float = 0.05,
                pc_alpha: float = 0.2) -> pd.DataFrame:
    """PCMCI (tigramite, ParCorr) on a diary, all patients as multiple datasets.

    At the prompt level only lagged links (lag 1..tau_max prompts) are tested. At the day
    level, links at lag 0 are tested too, oriented by the time order a day gives: a nightly
    measure may cause a measure of the day after it, never the reverse; lag-0 links between
    two daily (or two nightly) measures stay unoriented and are not reported.

    Returns
    -------
    pandas.DataFrame
        One row per directed (cause, effect, lag): ``cause, effect, level, lag, value``
        (MCI partial correlation), ``p``, ``found`` (p < alpha). Attribute
        ``attrs['dropped']``: patients left out because a measure never varied.
    """
    from tigramite import data_processing as pp
    from tigramite.independence_tests.parcorr import ParCorr
    from tigramite.pcmci import PCMCI

    _check_level(level)
    if tau_max < 1:
        raise DataError(f"tau_max must be >= 1, got {tau_max}")
    ms = diary_measures(diary)
    data, names, dropped = _series(diary, level, gap=tau_max)
    if len(data) < 2:
        raise DataError(f"PCMCI needs at least 2 patients whose measures vary; {len(data)} of "
                        f"{len(data) + len(dropped)} qualify")
    arrays = {k: np.where(np.isnan(v), MISSING_FLAG, v) for k, v in data.items()}
    frame = pp.DataFrame(arrays, analysis_mode="multiple", missing_flag=MISSING_FLAG, var_names=names)
    pc = PCMCI(dataframe=frame, cond_ind_test=ParCorr(significance="analytic"), verbosity=0)
    n = len(names)
    night = [v in ms.nightly for v in names]
    if level == "prompt":
        tau_min, assumptions = 1, None
    else:
        tau_min = 0
        assumptions = {}
        for j in range(n):
            links: dict[tuple[int, int], str] = {}
            for i in range(n):
                for tau in range(1, tau_max + 1):
                    links[(i, -tau)] = "-?>"
                if i != j:
                    if night[i] and not night[j]:
                        links[(i, 0)] = "-?>"
                    elif night[j] and not night[i]:
                        links[(i, 0)] = "<?-"
                    else:
                        links[(i, 0)] = "o?o"
            assumptions[j] = links
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = pc.run_pcmci(tau_min=tau_min, tau_max=tau_max, pc_alpha=pc_alpha, alpha_level=alpha,
                           link_assumptions=assumptions)
    pmat, vmat = res["p_matrix"], res["val_matrix"]
    rows = []
    for i in range(n):
        for j in range(n):
            for tau in range(tau_min, tau_max + 1):
                if tau == 0 and not (night[i] and not night[j]):
                    continue
                if tau > 0 and i == j:
                    continue
                p = float(pmat[i, j, tau])
                rows.append({"cause": names[i], "effect": names[j], "level": level, "lag": tau,
                             "value": float(vmat[i, j, tau]), "p": p, "found": bool(p < alpha)})
    out = pd.DataFrame(rows)
    out.attrs["dropped"] = dropped
    return out


def true_links(model: CompiledModel, momentary: Sequence[str], nightly: Sequence[str] = ()) -> pd.DataFrame:
    """The theory's true links between diary measures (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        One row per ordered pair of distinct measures: ``cause, effect, kind`` (``direct``,
        ``indirect`` or ``none``), ``sign`` (+1, -1; 0 when direct edges disagree or none),
        ``edges`` (the direct edges, ``; ``-joined).
    """
    names = [*nightly, *momentary]
    reads = {m: measure_states(model, m) for m in names}
    direction = {m: measure_direction(model, m) for m in names}
    g = signed_graph(model.spec)
    states = set(model.states)
    measured = {s for m in names for s in reads[m]}
    hidden = states - measured
    sg = nx.DiGraph()
    sg.add_nodes_from(states)
    sg.add_edges_from((u, v) for u, v in g.edges() if u in states and v in states)
    rows = []
    for x in names:
        for y in names:
            if x == y:
                continue
            signs, edges = [], []
            for sx in reads[x]:
                for sy in reads[y]:
                    if sx == sy or not g.has_edge(sx, sy):
                        continue
                    for key, data in g[sx][sy].items():
                        signs.append(direction[x][sx] * data["sign"] * direction[y][sy])
                        edges.append(key)
            if signs:
                kind, sign = "direct", (signs[0] if len(set(signs)) == 1 else 0)
            else:
                kind, sign = "none", 0
                for sx in reads[x]:
                    for sy in reads[y]:
                        if sx == sy:
                            continue
                        sub = sg.subgraph(hidden | {sx, sy})
                        if nx.has_path(sub, sx, sy):
                            kind = "indirect"
            rows.append({"cause": x, "effect": y, "kind": kind, "sign": int(sign), "edges": "; ".join(edges)})
    return pd.DataFrame(rows)


def _found_sign(results: pd.DataFrame, method: str) -> pd.DataFrame:
    """(cause, effect) -> found, sign, strength, p of one method's results (best lag for PCMCI)."""
    col = "estimate" if method == "mlm" else "value"
    r = results.dropna(subset=["p"])
    if method == "pcmci":
        r = r.sort_values("p").drop_duplicates(["cause", "effect"])
    r = r.assign(est_sign=np.sign(r[col]).astype(int), strength=r["std_estimate" if method == "mlm" else "value"])
    return r[["cause", "effect", "found", "est_sign", "strength", "p"]]


def compare_with_truth(model: CompiledModel, results: pd.DataFrame, *, method: str,
                       truth: pd.DataFrame | None = None) -> pd.DataFrame:
    """Set a within-person analysis against the theory's true links.

    Parameters
    ----------
    model
        The theory whose graph is the truth.
    results
        :func:`lagged_mlm` (``method='mlm'``) or :func:`pcmci_links` (``method='pcmci'``) output.
    truth
        :func:`true_links` output (computed from the results' measures when None).

    Returns
    -------
    pandas.DataFrame
        One row per tested (cause, effect): the truth's ``kind, sign`` and the analysis'
        ``found, est_sign, strength, p``, and ``status``: ``recovered`` (true, found with the
        true sign), ``wrong_sign``, ``missed``, ``indirect`` (found; a path through unmeasured
        states only), ``spurious`` (found; no such path) or ``absent`` (not true, not found).
    """
    if method not in ("mlm", "pcmci"):
        raise DataError(f"method must be 'mlm' or 'pcmci', got {method!r}")
    found = _found_sign(results, method)
    if truth is None:
        names = list(dict.fromkeys([*results["cause"], *results["effect"]]))
        truth = true_links(model, names)
    df = found.merge(truth, on=["cause", "effect"], how="left")
    df["kind"] = df["kind"].fillna("none")
    df["sign"] = df["sign"].fillna(0).astype(int)

    def status(r: pd.Series) -> str:
        if r["kind"] == "direct":
            if not r["found"]:
                return "missed"
            return "recovered" if r["sign"] in (0, r["est_sign"]) else "wrong_sign"
        if not r["found"]:
            return "absent"
        return "indirect" if r["kind"] == "indirect" else "spurious"

    df["status"] = df.apply(status, axis=1) if len(df) else pd.Series(dtype=str)
    df.insert(0, "method", method)
    cols = ["method", "cause", "effect", "kind", "sign", "found", "est_sign", "strength", "p", "status", "edges"]
    return df[cols]


def summarise(comparison: pd.DataFrame) -> dict[str, int]:
    """Counts of each status (every key of :data:`STATUSES`)."""
    counts = comparison["status"].value_counts()
    return {s: int(counts.get(s, 0)) for s in STATUSES}
