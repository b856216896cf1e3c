"""Load a model file: read YAML, resolve includes, apply exclude/override, validate.

A theory is a composition of module files. Composition works on the raw entries (so an
override can change any field before validation); each entry keeps the file and line
it was written at, and every error names them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from fitts.errors import Location, ModelError, did_you_mean, display_path, excerpt
from fitts.spec.files import check_path_text
from fitts.spec.model import Spec
from fitts.spec.schema import (
    SECTIONS,
    AuxiliarySpec,
    EdgeSpec,
    EventSpec,
    FileHeader,
    InputSpec,
    InterventionSpec,
    NodeSpec,
    ObservationSpec,
    OmissionSpec,
    ParameterSpec,
)
from fitts.spec.validate import validate_spec
from fitts.spec.yamlio import LineDict, best_error, gc_paused, line_at, load_yaml_file, load_yaml_text, locate

ENTRY_CLASSES: dict[str, type[BaseModel]] = {
    "nodes": NodeSpec,
    "inputs": InputSpec,
    "edges": EdgeSpec,
    "omissions": OmissionSpec,
    "parameters": ParameterSpec,
    "interventions": InterventionSpec,
    "observations": ObservationSpec,
    "auxiliaries": AuxiliarySpec,
    "events": EventSpec,
}
SINGULAR = {
    "nodes": "node", "inputs": "input", "edges": "edge", "omissions": "omission",
    "parameters": "parameter", "interventions": "intervention", "observations": "observation",
    "auxiliaries": "auxiliary", "events": "event",
}
MAX_INCLUDE_DEPTH = 32


def models_dir() -> Path:
    """Folder of the built-in theories and modules (package data)."""
    return Path(str(resources.files("fitts") / "models"))


def builtin_modules() -> dict[str, Path]:
    """Built-in modules by name: `models/modules/<name>.yaml`."""
    folder = models_dir() / "modules"
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.exists() else {}


def builtin_theories() -> dict[str, Path]:
    """Built-in theories by name: `models/<name>.yaml`."""
    return {p.stem: p for p in sorted(models_dir().glob("*.yaml"))}


@dataclass
class _RawEntry:
    data: dict[str, Any]
    location: Location
    origin: tuple[str, int | None]  # (file, line) the entry was first written at


@dataclass
class _Raw:
    """Composed but not yet validated content of a model."""

    sections: dict[str, dict[str, _RawEntry]] = field(
        default_factory=lambda: {s: {} for s in SECTIONS}
    )
    schedule: list[tuple[Any, Location]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)  # built-in theories included by name






def _explain(exc: ValidationError, data: Any, location: Location, what: str) -> ModelError:
    """Turn a pydantic error into a ModelError naming the field and its line."""
    err = best_error(exc)
    loc = tuple(err.get("loc", ()))
    # drop discriminator tags ('normal', 'StepComponent', ...) pydantic puts in the path
    fields = [excerpt(x, 60).strip("'") if isinstance(x, str) else str(x) for i, x in enumerate(loc)
              if i == len(loc) - 1 or not (isinstance(x, str) and (x[:1].isupper() or "[" in x))]
    msg = err.get("msg", "invalid value").removeprefix("Value error, ")
    hint = None
    if err.get("type") == "extra_forbidden":
        key = fields[-1] if fields else "?"
        allowed = []
        cls = _cls_for(what)
        if cls is not None:
            allowed = [f.alias or n for n, f in cls.model_fields.items()]
        msg = f"unknown field {excerpt(key)}." + did_you_mean(key, allowed)
        if allowed:
            hint = "allowed fields: " + ", ".join(allowed)
    elif err.get("type") == "missing":
        msg = f"missing required field {fields[-1] if fields else ''!r}"
    elif err.get("type") == "union_tag_invalid" or "discriminator" in str(err.get("type")):
        msg += "."
        hint = "write one of: dist: fixed|uniform|normal|lognormal|beta|gamma|bernoulli " \
               "(priors) or kind: step|pulse|ramp|daily|events (schedules)"
    field_path = ".".join(fields)
    # the location already names the entry; repeat it only when it does not
    prefix = "" if location.entry else f"{what}: "
    text = f"{prefix}{field_path + ': ' if field_path else ''}{msg}"
    line = locate(data, loc) or location.line
    return ModelError(text, Location(location.file, line, location.entry), hint)


def _cls_for(what: str) -> type[BaseModel] | None:
    for section, single in SINGULAR.items():
        if what.startswith(single):
            return ENTRY_CLASSES[section]
    return FileHeader if what == "model file" else None


def _resolve_include(inc: Any, here: Path, loc: Location) -> Path:
    if inc.module is not None:
        mods = builtin_modules()
        theories = builtin_theories()
        if inc.module in mods:
            return mods[inc.module]
        if inc.module in theories:  # a variant starts from a whole built-in theory
            return theories[inc.module]
        known = {**mods, **theories}
        raise ModelError(
            f"include: no built-in module or theory named {inc.module!r}." + did_you_mean(inc.module, known),
            loc,
            "built-in modules: " + (", ".join(mods) or "(none)") + "; theories: " + (", ".join(theories) or "(none)")
            + "; or give `path:`",
        )
    check_path_text(inc.path, loc, "include")
    try:
        target = (here.parent / inc.path).resolve()
        exists, is_dir = target.exists(), target.is_dir()
    except (OSError, RuntimeError) as exc:
        raise ModelError(f"include: path {excerpt(inc.path)} cannot be resolved ({excerpt(str(exc), 120)})", loc,
                         "paths in `includes` are relative to the including file") from None
    if is_dir:
        raise ModelError(f"include: {excerpt(inc.path)} is a folder ({display_path(target)}), not a model file", loc,
                         "name a .yaml file; paths in `includes` are relative to the including file")
    if not exists:
        siblings = [p.name for p in target.parent.glob("*.yaml")] if target.parent.exists() else []
        raise ModelError(
            f"include: file {excerpt(inc.path)} does not exist (looked for {display_path(target)})."
            + did_you_mean(Path(inc.path).name, siblings),
            loc,
            "paths in `includes` are relative to the including file",
        )
    return target


def _entries(section: str, value: Any, file: str, container_line: int | None) -> list[tuple[str, Any, Location]]:
    """(name, raw data, location) for each entry of a section."""
    out: list[tuple[str, Any, Location]] = []
    single = SINGULAR[section]
    if section in ("edges", "omissions"):
        if not isinstance(value, list):
            raise ModelError(f"`{section}` must be a list of entries", Location(file, container_line))
        for i, item in enumerate(value):
            line = line_at(value, i)
            if not isinstance(item, dict):
                raise ModelError(f"{single} #{i + 1} must be a mapping with from/to",
                                 Location(file, line))
            key = item.get("name") or f"{item.get('from', '?')} -> {item.get('to', '?')}"
            out.append((str(key), item, Location(file, line, f"{single} '{key}'")))
        return out
    if not isinstance(value, dict):
        raise ModelError(f"`{section}` must be a mapping of name: entry", Location(file, container_line))
    for name, item in value.items():
        line = line_at(value, name)
        if item is None:
            item = LineDict()
        if not isinstance(item, dict):
            raise ModelError(f"{single} {excerpt(name)} must be a mapping of fields, got {excerpt(item)}",
                             Location(file, line, f"{single} '{name}'"))
        out.append((name, item, Location(file, line, f"{single} '{name}'")))
    return out


def _add(raw: _Raw, section: str, name: str, entry: _RawEntry, hint: str) -> None:
    existing = raw.sections[section].get(name)
    if existing is not None:
        if existing.origin == entry.origin and existing.data == entry.data:
            return  # the same module reached twice (diamond include)
        prev = existing.location
        raise ModelError(
            f"duplicate {SINGULAR[section]} {name!r}: already defined at "
            f"{prev.file}:{prev.line}",
            entry.location,
            hint,
        )
    raw.sections[section][name] = entry


def _copy_raw(raw: _Raw) -> _Raw:
    """A copy whose sections and lists can be changed (exclude, override) without touching `raw`."""
    return _Raw({s: dict(d) for s, d in raw.sections.items()}, list(raw.schedule), list(raw.files),
                list(raw.parents))


def _compose(path: Path, stack: tuple[Path, ...], cache: dict[Path, _Raw] | None = None,
             where: Location | None = None) -> _Raw:
    """Compose the file at `path`; each file is read and composed once per load (`cache`),
    so a diamond of includes costs one composition per file, not one per path through it."""
    cache = {} if cache is None else cache
    if path in cache:
        return _copy_raw(cache[path])
    shown = display_path(path) or str(path)
    data = load_yaml_file(path, where=where, what="include" if where is not None else "model file")
    raw = _compose_data(data, path, shown, stack, cache)
    cache[path] = raw
    return _copy_raw(raw)


def _compose_data(data: Any, path: Path, shown: str, stack: tuple[Path, ...],
                  cache: dict[Path, _Raw] | None = None) -> _Raw:
    cache = {} if cache is None else cache
    if data is None:
        data = LineDict()
    if not isinstance(data, dict):
        raise ModelError("a model file must be a mapping (nodes:, edges:, ...)", Location(shown, 1),
                         "start with `nodes:`; see docs/model-language.md")
    try:
        header = FileHeader.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, data, Location(shown), "model file") from None

    raw = _Raw(files=[shown])
    includes = data.get("includes") or []
    for i, inc in enumerate(header.includes):
        loc = Location(shown, line_at(includes, i), f"includes #{i + 1}")
        target = _resolve_include(inc, path, loc)
        if target in stack or target == path.resolve():
            chain = " -> ".join(display_path(p) or str(p) for p in (*stack, target))
            raise ModelError(f"include cycle: {chain}", loc,
                             "a module may not include itself, directly or through others")
        if len(stack) > MAX_INCLUDE_DEPTH:
            raise ModelError("includes nested too deeply", loc)
        sub = _compose(target, (*stack, target), cache, loc)
        _apply_exclude(sub, inc.exclude, loc)
        _apply_override(sub, inc.override, includes[i].get("override") or {}, loc)
        for section in SECTIONS:
            for name, entry in sub.sections[section].items():
                _add(raw, section, name, entry,
                     "two included modules define it; exclude it from one of them")
        seen_items = {(id(item), loc_) for item, loc_ in raw.schedule}
        raw.schedule += [(item, loc_) for item, loc_ in sub.schedule if (id(item), loc_) not in seen_items]
        known_files = set(raw.files)
        raw.files += [f for f in sub.files if f not in known_files]
        if inc.module is not None and inc.module in builtin_theories() and inc.module not in raw.parents:
            raw.parents.append(inc.module)
        raw.parents += [p for p in sub.parents if p not in raw.parents]

    for section in SECTIONS:
        value = data.get(section)
        if value is None:
            continue
        for name, item, loc in _entries(section, value, shown, line_at(data, section)):
            _add(raw, section, name, _RawEntry(item, loc, (shown, loc.line)),
                 "to change an included entry, use `override:` in the include instead")
    sched = data.get("schedule") or []
    for i, item in enumerate(sched):
        raw.schedule.append((item, Location(shown, line_at(sched, i), f"schedule #{i + 1}")))
    return raw


def _apply_exclude(sub: _Raw, exclude: Any, loc: Location) -> None:
    for section in SECTIONS:
        for name in getattr(exclude, section):
            entries = sub.sections[section]
            if name not in entries:
                raise ModelError(
                    f"exclude: the included module has no {SINGULAR[section]} {name!r}."
                    + did_you_mean(name, entries),
                    loc,
                    f"{section} there: " + ", ".join(list(entries)[:30]),
                )
            del entries[name]
    # a removed node takes its edges (and gates) with it
    for name in exclude.nodes:
        for eid in [k for k, e in sub.sections["edges"].items()
                    if name in (e.data.get("from"), e.data.get("to"), e.data.get("gate"))]:
            del sub.sections["edges"][eid]


def _apply_override(sub: _Raw, override: Any, raw_override: Any, loc: Location) -> None:
    for section in SECTIONS:
        changes = getattr(override, section, None) or {}
        for name, fields in changes.items():
            entries = sub.sections[section]
            if name not in entries:
                raise ModelError(
                    f"override: the included module has no {SINGULAR[section]} {name!r}."
                    + did_you_mean(name, entries),
                    loc,
                    "to add a new entry, write it in this file's own section",
                )
            old = entries[name]
            merged = LineDict(copy.deepcopy(dict(old.data)))
            merged.line = getattr(old.data, "line", None)
            merged.key_lines = dict(getattr(old.data, "key_lines", {}))
            merged.update(fields)
            line = line_at(raw_override.get(section, {}), name) if isinstance(raw_override, dict) else None
            where = Location(loc.file, line or loc.line, old.location.entry)
            entries[name] = _RawEntry(merged, where, old.origin)


def _validate_entries(raw: _Raw) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for section, cls in ENTRY_CLASSES.items():
        out[section] = {}
        for name, entry in raw.sections[section].items():
            try:
                out[section][name] = cls.model_validate(entry.data)
            except ValidationError as exc:
                what = f"{SINGULAR[section]} {excerpt(name, 60)}"
                raise _explain(exc, entry.data, entry.location, what) from None
    return out


def _build(raw: _Raw, name: str | None, description: str | None, dt: float | None = None,
           time_unit: str | None = None) -> Spec:
    sections = _validate_entries(raw)
    from fitts.spec.schema import FileHeader as _H  # schedule items validated via the header

    schedule = []
    for item, loc in raw.schedule:
        try:
            schedule.append(_H.model_validate({"schedule": [item]}).schedule[0])
        except ValidationError as exc:
            raise _explain(exc, {"schedule": [item]}, loc, "schedule") from None
    locations = {(s, n): e.location for s in SECTIONS for n, e in raw.sections[s].items()}
    spec = Spec(
        name=name or Path(raw.files[0]).stem,
        description=description,
        schedule=tuple(schedule),
        files=tuple(raw.files),
        locations=locations,
        parents=tuple(raw.parents),
        dt=None if dt is None else float(dt),
        time_unit=time_unit or "days",
        **sections,
    )
    validate_spec(spec)
    return spec


def load_model(source: str | Path) -> Spec:
    """Load and validate a model: a file path or the name of a built-in theory.

    Raises
    ------
    ModelError
        Naming the file, line and entry of the first problem found, and what to do.
    """
    with gc_paused():
        return _load_model(source)


def _load_model(source: str | Path) -> Spec:
    path = check_path_text(source, what="model file")
    if str(source) in builtin_theories() and not path.is_file():
        # a bare theory name is the built-in theory, even beside a folder of that name (a clone)
        path = builtin_theories()[str(source)]
    elif not path.exists() and not path.is_symlink():
        known = builtin_theories()
        raise ModelError(
            f"no model file or built-in theory named {excerpt(str(source))}." + did_you_mean(str(source), known),
            Location(excerpt(str(source), 120).strip("'")),
            "give a path to a .yaml file or one of: " + (", ".join(known) or "(none yet)"),
        )
    try:
        path = path.resolve()
    except (OSError, RuntimeError):
        pass  # a symlink loop: reading it below names the problem
    shown = display_path(path) or str(path)
    top = load_yaml_file(path, what="model file")
    raw = _compose_data(top, path, shown, (path,))
    top = top if isinstance(top, dict) else {}
    return _build(raw, top.get("name"), top.get("description"), top.get("dt"), top.get("time_unit"))


def load_model_text(text: str, filename: str = "<text>", base: str | Path | None = None) -> Spec:
    """Load a model from YAML text; includes resolve relative to `base` (a folder)."""
    with gc_paused():
        return _load_model_text(text, filename, base)


def _load_model_text(text: str, filename: str, base: str | Path | None) -> Spec:
    data = load_yaml_text(text, filename)
    here = Path(base or Path.cwd()).resolve() / filename
    raw = _compose_data(data, here, filename, (here,))
    data = data if isinstance(data, dict) else {}
    return _build(raw, data.get("name"), data.get("description"), data.get("dt"), data.get("time_unit"))
