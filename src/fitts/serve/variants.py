"""Edit a theory into a variant and save it as a model file the CLI reads.

A variant is written flat: every node, input, edge, parameter, intervention and
observation of the composed theory, with its source and grade, in one self-contained
model file (``models/NAME.yaml`` in the workspace), headed by comment lines that say what
it is a variant of and which edits were made. Each edit changes the file's data and the
result is loaded by :func:`fitts.spec.load.load_model_text`, the loader and validator the
CLI uses; a refused edit is not saved, and its error names the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from fitts.errors import FittsError, ModelError
from fitts.serve.workspace import Workspace, check_name, write_atomic

EDITS = ("weight", "remove", "add", "prevalence")
_HEADER = "# fitts variant"


def flatten(spec: Any) -> dict[str, Any]:
    """A composed theory as the data of one model file (no includes)."""
    d = spec.to_dict()
    out: dict[str, Any] = {"fitts": 1, "name": d["name"]}
    if spec.description:
        out["description"] = " ".join(spec.description.split())
    for section in ("nodes", "inputs"):
        out[section] = d[section]
    out["edges"] = list(d["edges"].values())
    if d["omissions"]:
        out["omissions"] = list(d["omissions"].values())
    for section in ("parameters", "interventions", "observations"):
        if d[section]:
            out[section] = d[section]
    if d["schedule"]:
        out["schedule"] = d["schedule"]
    return out


def _edge_id(e: dict[str, Any]) -> str:
    return e.get("name") or f"{e.get('from')} -> {e.get('to')}"


def _value(text: str, field: str) -> Any:
    """A number, an expression or a prior mapping written as YAML (``{dist: lognormal, ...}``)."""
    from fitts.spec.yamlio import load_yaml_text

    text = (text or "").strip()
    if not text:
        raise FieldError(field, "give a value: a number, or a prior such as {dist: lognormal, median: 0.8, sigma: 0.3}")
    try:
        value = load_yaml_text(text, "<edit>")
    except ModelError as exc:
        raise FieldError(field, f"not readable as YAML: {exc.message}") from None
    return _plain(value)


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


class FieldError(FittsError):
    """An edit refused, with the form field it belongs next to."""

    exit_code = 2

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Variant:
    """A saved variant: its workspace key, file, history of edits and validated Spec."""

    key: str
    path: Any
    base: str
    edits: list[str]
    spec: Any


def history(text: str) -> tuple[str | None, list[str]]:
    """(base theory, edits) read from a variant file's header comments."""
    base, edits = None, []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        if line.startswith("# base: "):
            base = line[len("# base: "):].strip()
        elif line.startswith("# edit: "):
            edits.append(line[len("# edit: "):].strip())
    return base, edits


def load_variant(ws: Workspace, name: str) -> Variant | None:
    """The saved variant ``models/NAME.yaml``, or None when there is none yet."""
    name = check_name(name, "variant name")
    path = ws.models / f"{name}.yaml"
    if not path.is_file():
        return None
    base, edits = history(path.read_text(encoding="utf-8"))
    return Variant(f"{name}.yaml", path, base or "?", edits, ws.spec(f"{name}.yaml"))


def apply_edit(ws: Workspace, base: str, name: str, edit: str, form: dict[str, str]) -> Variant:
    """Apply one edit to variant `name` (started from theory `base` when it does not exist yet).

    Parameters
    ----------
    form
        The edit's fields: ``weight``: edge, weight; ``remove``: edge; ``add``: from, to, sign,
        weight, source, grade; ``prevalence``: parameter, p.

    Raises
    ------
    FieldError
        The edit is refused; ``field`` names the form field, ``message`` says why (the
        validator's message for a model the CLI would refuse).
    """
    try:
        name = check_name(name, "variant name")
    except ModelError as exc:
        raise FieldError("name", str(exc)) from None
    if edit not in EDITS:
        raise FieldError("edit", f"unknown edit {edit!r}; choose one of {', '.join(EDITS)}")
    current = load_variant(ws, name)
    source = current.key if current is not None else base
    spec = ws.spec(source)
    data = flatten(spec)
    data["name"] = name
    base_name = current.base if current is not None else base
    edits = list(current.edits) if current is not None else []
    edges = data["edges"]
    ids = [_edge_id(e) for e in edges]

    def pick_edge(field: str = "edge") -> int:
        eid = form.get(field, "")
        if eid not in ids:
            raise FieldError(field, f"the theory has no edge {eid[:80]!r}")
        return ids.index(eid)

    if edit == "weight":
        i = pick_edge()
        value = _value(form.get("weight", ""), "weight")
        edges[i]["weight"] = value
        note = f"weight of '{ids[i]}' set to {_flow(value)}"
        field = "weight"
    elif edit == "remove":
        i = pick_edge()
        del edges[i]
        note = f"removed edge '{ids[i]}'"
        field = "edge"
    elif edit == "add":
        new = {"from": form.get("from", "").strip(), "to": form.get("to", "").strip(),
               "sign": form.get("sign", "+"), "weight": _value(form.get("weight", ""), "weight")}
        for opt in ("source", "grade"):
            if form.get(opt, "").strip():
                new[opt] = form[opt].strip()
        edges.append(new)
        note = f"added edge '{new['from']} -> {new['to']}' ({new['sign']}, weight {_flow(new['weight'])})"
        field = "weight"
    else:
        par = form.get("parameter", "")
        params = data.get("parameters", {})
        prior = (params.get(par) or {}).get("prior") or {}
        if prior.get("dist") != "bernoulli":
            raise FieldError("parameter", f"{par[:80]!r} is not a predisposition (a parameter with a bernoulli prior)")
        p = _value(form.get("p", ""), "p")
        params[par]["prior"] = {**prior, "p": p}
        note = f"prevalence of '{par}' set to {_flow(p)}"
        field = "p"
    edits.append(note)
    header = [f"{_HEADER} {name}: a model file of its own (no includes); check it with `fitts validate`",
              f"# base: {base_name}", *(f"# edit: {e}" for e in edits)]
    text = "\n".join(header) + "\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)
    from fitts.spec.load import load_model_text

    try:
        new_spec = load_model_text(text, f"{name}.yaml", base=ws.models)
    except ModelError as exc:
        raise FieldError(field_of(exc, field, edit, form), exc.message if not exc.hint else
                         f"{exc.message} (hint: {exc.hint})") from None
    path = write_atomic(ws.models / f"{name}.yaml", text)
    return Variant(f"{name}.yaml", path, base_name, edits, new_spec)


def _flow(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=200).strip().removesuffix("...").strip()


def field_of(exc: ModelError, default: str, edit: str, form: dict[str, str]) -> str:
    """The form field a validator error belongs to (for a new edge: the end it names, or the grade)."""
    text = exc.message
    if edit == "add":
        for f in ("from", "to"):
            if f"{form.get(f, '').strip()!r}" in text:
                return f
        if text.startswith("grade"):
            return "grade"
        if "sign" in text and "weight" not in text:
            return "sign"
    return default
