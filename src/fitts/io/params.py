"""Read a patient's parameter file: YAML mapping or CSV table of parameter name -> value."""

from __future__ import annotations

import math
from collections.abc import Collection
from pathlib import Path

from fitts.errors import DataError, did_you_mean, display_path, excerpt


def read_patient_params(path: str | Path, known: Collection[str]) -> dict[str, float]:
    """Parameter overrides of one patient from a file.

    Parameters
    ----------
    path
        ``.yaml``/``.yml``: a mapping ``name: value``; ``.csv``: two columns, parameter
        name and value, with or without a header line (e.g. ``parameter,value``).
    known
        The names of the model's parameter table (``CompiledModel.param_index``).

    Returns
    -------
    dict
        Name -> value (float).

    Raises
    ------
    DataError
        Missing or unreadable file, a value that is not a finite number, or an unknown name
        (naming the file, the line and the entry, with a did-you-mean).
    """
    p = Path(path)
    shown = display_path(p)
    try:
        exists = p.exists()
    except (OSError, ValueError):  # a NUL byte, a name over 255 bytes
        exists = False
    if not exists:
        raise DataError(f"{shown}: no such patient-parameter file; check the path")
    rows: list[tuple[str, object, int | None]] = []
    if p.suffix.lower() in (".yaml", ".yml"):
        from fitts.errors import ModelError
        from fitts.spec.yamlio import line_at, load_yaml_file

        try:
            data = load_yaml_file(p)
        except ModelError as exc:
            raise DataError(str(exc)) from None
        if not isinstance(data, dict):
            raise DataError(f"{shown}: a patient-parameter file must be a YAML mapping "
                            "`name: value`, e.g. `early_adversity: 1`")
        rows = [(str(k), v, line_at(data, k)) for k, v in data.items()]
    elif p.suffix.lower() == ".csv":
        import csv
        import io

        from fitts.errors import ModelError
        from fitts.spec.files import read_text

        try:
            text = read_text(p, what="patient-parameter file")
        except ModelError as exc:
            raise DataError(str(exc)) from None
        try:
            lines = list(csv.reader(io.StringIO(text, newline="")))
        except csv.Error as exc:
            raise DataError(f"{shown}: not a readable CSV table ({exc})") from None
        # the first line is a header (e.g. `parameter,value`) unless its value column is a number:
        # a file without a header keeps its first row
        start = 1 if lines and not _is_number(lines[0][1] if len(lines[0]) > 1 else "") else 0
        for i, line in enumerate(lines[start:], start=start + 1):
            if not line or not "".join(line).strip():
                continue
            if len(line) < 2:
                raise DataError(f"{shown}:{i}: expected two columns (parameter, value), got {excerpt(line)}")
            rows.append((line[0].strip(), line[1].strip(), i))
    else:
        raise DataError(f"{shown}: cannot tell the format from the suffix {p.suffix!r}; use .yaml or .csv")
    out: dict[str, float] = {}
    for name, value, line in rows:
        where = f"{shown}:{line}" if line else shown
        if name not in known:
            raise DataError(f"{where}: entry {excerpt(name)}: unknown parameter." + did_you_mean(name, known)
                            + " (`fitts show MODEL` lists the model's parameters; node and edge rows are "
                              "tau.NODE, baseline.NODE, weight.EDGE)")
        try:
            v = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            v = math.nan
        if isinstance(value, bool) or not math.isfinite(v):
            raise DataError(f"{where}: entry {excerpt(name)}: value {excerpt(value)} is not a finite number")
        out[name] = v
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
