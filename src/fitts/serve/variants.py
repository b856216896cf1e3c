"""Edit a theory into a variant and save it as a model file the CLI reads.

A variant is a short model file (``models/NAME.yaml`` in the workspace) that includes the
theory it started from (``module: fitts`` for a built-in theory, ``path: FILE`` for a
model file of the workspace) and says what it changes: links excluded, fields overridden
(a link's weight prior, a predisposition's prevalence) and links of its own, each with
its source and grade. Comment lines at its top name the theory and list the edits. Every
edit changes the file's data and the result is loaded by
:func:`fitts.spec.load.load_model_text`, the loader and validator the CLI uses; a refused
edit is not saved, and its error names the field. The CLI treats the file like any
theory, and a variant of a built-in theory starts from its parent's calibration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from fitts.errors import FittsError, ModelError
from fitts.serve.workspace import Workspace, check_name, write_atomic

EDITS = ("weight", "remove", "add", "prevalence")
_HEADER = "# fitts variant"


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
    text = path.read_text(encoding="utf-8")
    if not text.startswith(_HEADER):
        return None  # a model file that was not made here (an upload): not editable as a variant
    base, edits = history(text)
    return Variant(f"{name}.yaml", path, base or "?", edits, ws.spec(f"{name}.yaml"))


def _start(ws: Workspace, base: str, name: str) -> dict[str, Any]:
    """The data of a new variant of theory `base`: it includes the theory and changes nothing yet."""
    spec = ws.spec(base)
    inc: dict[str, Any] = {"module": base} if not base.endswith(".yaml") else {"path": base}
    inc.update({"exclude": {"edges": []}, "override": {"edges": {}, "parameters": {}}})
    return {"fitts": 1, "name": name, "description": f"variant of {spec.name} made in the fitts workbench",
            "includes": [inc], "edges": []}


def _tidy(data: dict[str, Any]) -> dict[str, Any]:
    """The variant's data without empty sections (what is written)."""
    out = {k: v for k, v in data.items() if k != "edges"}
    inc = dict(data["includes"][0])
    for part in ("exclude", "override"):
        kept = {k: v for k, v in (inc.get(part) or {}).items() if v}
        if kept:
            inc[part] = kept
        else:
            inc.pop(part, None)
    out["includes"] = [inc]
    if data.get("edges"):
        out["edges"] = data["edges"]
    return out


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
    from fitts.spec.load import load_model_text
    from fitts.spec.yamlio import load_yaml_text

    try:
        name = check_name(name, "variant name")
    except ModelError as exc:
        raise FieldError("name", str(exc)) from None
    if edit not in EDITS:
        raise FieldError("edit", f"unknown edit {edit!r}; choose one of {', '.join(EDITS)}")
    path = ws.models / f"{name}.yaml"
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        if not text.startswith(_HEADER):
            raise FieldError("name", f"models/{name}.yaml is a model file that was not made here; "
                                     "give the variant another name")
        base_name, edits = history(text)
        data = _plain(load_yaml_text(text, f"{name}.yaml"))
        inc = data["includes"][0]
        inc.setdefault("exclude", {}).setdefault("edges", [])
        inc.setdefault("override", {}).setdefault("edges", {})
        inc["override"].setdefault("parameters", {})
        data.setdefault("edges", [])
        spec = ws.spec(f"{name}.yaml")
        base_name = base_name or "?"
    else:
        if f"{name}.yaml" == base:
            raise FieldError("name", "a variant needs a name of its own")
        data, edits, base_name, spec = _start(ws, base, name), [], base, ws.spec(base)
    inc = data["includes"][0]
    own = data["edges"]
    own_ids = [_edge_id(e) for e in own]

    def pick_edge(field: str = "edge") -> str:
        eid = form.get(field, "")
        if eid not in spec.edges:
            raise FieldError(field, f"the theory has no edge {eid[:80]!r}")
        return eid

    if edit == "weight":
        eid = pick_edge()
        value = _value(form.get("weight", ""), "weight")
        if eid in own_ids:
            own[own_ids.index(eid)]["weight"] = value
        else:
            inc["override"]["edges"].setdefault(eid, {})["weight"] = value
        note = f"weight of '{eid}' set to {_flow(value)}"
        field = "weight"
    elif edit == "remove":
        eid = pick_edge()
        if eid in own_ids:
            del own[own_ids.index(eid)]
        else:
            inc["exclude"]["edges"].append(eid)
            inc["override"]["edges"].pop(eid, None)
        note = f"removed edge '{eid}'"
        field = "edge"
    elif edit == "add":
        new = {"from": form.get("from", "").strip(), "to": form.get("to", "").strip(),
               "sign": form.get("sign", "+"), "weight": _value(form.get("weight", ""), "weight")}
        for opt in ("source", "grade"):
            if form.get(opt, "").strip():
                new[opt] = form[opt].strip()
        own.append(new)
        note = f"added edge '{new['from']} -> {new['to']}' ({new['sign']}, weight {_flow(new['weight'])})"
        field = "weight"
    else:
        par = form.get("parameter", "")
        p = spec.parameters.get(par)
        if p is None or p.prior is None or p.prior.dist != "bernoulli":
            raise FieldError("parameter", f"{par[:80]!r} is not a predisposition (a parameter with a bernoulli prior)")
        value = _value(form.get("p", ""), "p")
        inc["override"]["parameters"][par] = {"prior": {"dist": "bernoulli", "p": value}}
        note = f"prevalence of '{par}' set to {_flow(value)}"
        field = "p"
    edits.append(note)
    header = [f"{_HEADER} {name}: check it with `fitts validate`, use it like any theory",
              f"# base: {base_name}", *(f"# edit: {e}" for e in edits)]
    text = "\n".join(header) + "\n" + yaml.safe_dump(_tidy(data), sort_keys=False, allow_unicode=True, width=110)
    try:
        new_spec = load_model_text(text, f"{name}.yaml", base=ws.models)
    except ModelError as exc:
        raise FieldError(field_of(exc, field, edit, form), exc.message if not exc.hint else
                         f"{exc.message} (hint: {exc.hint})") from None
    path = write_atomic(path, text)
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
