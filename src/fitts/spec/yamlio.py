"""YAML reading that remembers where each entry was written.

PyYAML's safe loader is used (libyaml's ``CSafeLoader`` when installed; no Python tags,
so a model file cannot build objects). Mappings come back as :class:`LineDict`, which
records the line of every key, and a mapping that repeats a key is an error: YAML itself
would silently keep the last one, hiding a duplicated node or parameter.

Before any value is built, the parsed tree is checked: at most :data:`MAX_DEPTH` levels
of nesting, at most :data:`MAX_ALIAS_NODES` nodes reached again through aliases (so a
small file cannot expand into gigabytes), no ``.nan`` and no integer beyond 2**64.
Every loader of `fitts` (models, targets, protocols, trials, schedules, calibration
files, patient parameters) reads through :func:`load_yaml_file`.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from fitts.errors import Location, ModelError, display_path, excerpt
from fitts.spec.files import MAX_FILE_BYTES, read_text

#: deepest nesting of mappings and lists accepted
MAX_DEPTH = 40
#: nodes that aliases may repeat (each repetition of each node counts once)
MAX_ALIAS_NODES = 10_000
#: largest integer magnitude accepted
MAX_INT = 2**64
_INT_DIGITS = 25  # any integer written with more digits is refused before Python parses it

try:
    _BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _BaseLoader = yaml.SafeLoader

__all__ = ["MAX_FILE_BYTES", "LineDict", "LineList", "line_at", "load_yaml_file", "load_yaml_text", "locate"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a file's many small objects are built: its full
    collections would otherwise make loading a large file grow faster than the file."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class LineDict(dict):
    """A dict that knows the 1-based line of itself and of each of its keys."""

    line: int | None = None
    key_lines: dict[str, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines = {}

    def line_of(self, key: str) -> int | None:
        return self.key_lines.get(key, self.line)


class LineList(list):
    """A list that knows the 1-based line of each of its items."""

    line: int | None = None
    item_lines: list[int | None]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_lines = []


def line_at(container: Any, key: Any) -> int | None:
    """Line of `container[key]` (a LineDict key or a LineList index), else of the container."""
    if isinstance(container, LineDict):
        return container.line_of(str(key))
    if isinstance(container, LineList) and isinstance(key, int) and key < len(container.item_lines):
        return container.item_lines[key]
    return getattr(container, "line", None)


def locate(data: Any, path: Sequence[Any]) -> int | None:
    """Line of the deepest part of `path` (keys and indices, e.g. a pydantic error location)
    that exists in the raw YAML `data`."""
    line = getattr(data, "line", None)
    cur = data
    for key in path:
        if isinstance(cur, dict) and str(key) in cur:
            line = line_at(cur, key) or line
            cur = cur[str(key)]
        elif isinstance(cur, list) and isinstance(key, int) and key < len(cur):
            line = line_at(cur, key) or line
            cur = cur[key]
        else:
            break
    return line


class _DepthGuard:
    """Stops the pure-Python composer at MAX_DEPTH levels (libyaml's composer is checked after parsing)."""

    filename: str | None = None
    _depth: int = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[attr-defined]
                raise ModelError(f"YAML nested more than {MAX_DEPTH} levels deep",
                                 Location(self.filename, mark.line + 1),
                                 "model, trial and target files are a few levels deep; flatten the structure")
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._depth -= 1


class _Loader(_DepthGuard, _BaseLoader):  # type: ignore[misc,valid-type]
    """Safe loader (libyaml when available) building LineDict/LineList and rejecting duplicate keys."""


class _PyLoader(_DepthGuard, yaml.SafeLoader):
    """The pure-Python safe loader, for text that may nest deeper than libyaml's composer is trusted with."""


_FLOAT = "tag:yaml.org,2002:float"
_INT = "tag:yaml.org,2002:int"


def _check_tree(root: yaml.Node, filename: str | None) -> None:
    """Refuse a parsed YAML tree that is too deep, expands too far through aliases, or holds
    NaN or a huge integer (iterative: no recursion, bounded time)."""
    seen: set[int] = set()
    repeated = 0
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        line = node.start_mark.line + 1
        if depth > MAX_DEPTH:
            raise ModelError(f"YAML nested more than {MAX_DEPTH} levels deep (or an alias refers to itself)",
                             Location(filename, line),
                             "model, trial and target files are a few levels deep; flatten the structure")
        if id(node) in seen:
            repeated += 1
            if repeated > MAX_ALIAS_NODES:
                raise ModelError(f"YAML aliases (*name) repeat more than {MAX_ALIAS_NODES} nodes",
                                 Location(filename, line),
                                 "write the repeated entries out, or use fewer, smaller aliases")
        else:
            seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _FLOAT and node.value.strip().lower() in (".nan", "+.nan", "-.nan"):
                raise ModelError(f"{node.value} (not a number) is not a value", Location(filename, line),
                                 "write a finite number")
            if node.tag == _INT:
                digits = node.value.lstrip("+-").replace("_", "")
                if len(digits) > _INT_DIGITS or (len(digits) > 18 and _too_big(node.value)):
                    raise ModelError(f"integer {excerpt(node.value, 40)} is too large (at most 2**64)",
                                     Location(filename, line), "write a smaller number")
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.append((k, depth + 1))
                stack.append((v, depth + 1))


def _too_big(text: str) -> bool:
    try:
        return abs(yaml.constructor.SafeConstructor().construct_yaml_int(yaml.ScalarNode(_INT, text))) > MAX_INT
    except (ValueError, TypeError):
        return False


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) or key is None:
            raise ModelError(
                f"mapping key {excerpt(key)} is not a plain name",
                Location(loader.filename, key_node.start_mark.line + 1),
                "write keys as plain words",
            )
        key = str(key)
        if key in out:
            raise ModelError(
                f"duplicate name {excerpt(key)} (first written on line {out.key_lines[key]})",
                Location(loader.filename, key_node.start_mark.line + 1, excerpt(key, 60).strip("'")),
                "each name may appear once in a mapping; rename or delete one of them",
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    out = LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


for _cls in {_Loader, _PyLoader}:
    _cls.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    _cls.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


#: nesting the libyaml composer is trusted with; deeper text goes to the pure-Python parser,
#: which stops at MAX_DEPTH (libyaml's composer recurses in C and some releases crash on deep text)
_C_DEPTH_BOUND = 200
_BRACKETS = re.compile(r"[\[\]{}]")


def _nesting_bound(text: str) -> int:
    """An upper bound on the nesting depth of YAML `text` (linear time): the deepest flow
    brackets plus the largest indentation and count of block indicators on one line. Brackets
    inside quotes count too, so the bound may be loose but never too small."""
    flow = deepest_flow = 0
    for m in _BRACKETS.finditer(text):
        flow += 1 if m.group() in "[{" else -1
        deepest_flow = max(deepest_flow, flow)
    block = 0
    for line in text.splitlines():
        stripped = line.lstrip(" \t")
        depth = len(line) - len(stripped) + stripped.count("- ") + stripped.count(": ") + stripped.count("? ") + 1
        block = max(block, depth)
    return deepest_flow + block


def load_yaml_text(text: str, filename: str | None = None) -> Any:
    """Parse YAML text into LineDict/LineList values; errors become ModelError."""
    base = _Loader if _nesting_bound(text) <= _C_DEPTH_BOUND else _PyLoader

    class Loader(base):  # type: ignore[misc,valid-type]
        pass

    Loader.filename = filename
    try:
        loader = Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_tree(node, filename)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except ModelError:
        raise
    except RecursionError:
        raise ModelError(f"YAML nested more than {MAX_DEPTH} levels deep", Location(filename),
                         "model, trial and target files are a few levels deep; flatten the structure") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        if "nesting depth" in problem:  # libyaml's own limit (1000 levels)
            raise ModelError(f"YAML nested more than {MAX_DEPTH} levels deep", Location(filename, line),
                             "model, trial and target files are a few levels deep; flatten the structure") from None
        hint = "check indentation and that every 'key: value' pair has a space after the colon"
        if "sequence entries are not allowed" in problem:
            hint = "a lone '-' starts a list item; quote it (sign: '-') or write `negative`"
        raise ModelError(f"YAML syntax error: {excerpt(problem, 200).strip(chr(39) + chr(34))}",
                         Location(filename, line), hint) from None
    except yaml.YAMLError as exc:
        raise ModelError(f"YAML error: {excerpt(str(exc), 200)}", Location(filename)) from None
    except (ValueError, OverflowError) as exc:  # a scalar PyYAML cannot convert (e.g. a bad timestamp)
        raise ModelError(f"YAML value error: {excerpt(str(exc), 200)}", Location(filename),
                         "quote the value if it is text") from None


def load_yaml_file(path: str | Path, *, where: Location | None = None, what: str = "file",
                   limit: int = MAX_FILE_BYTES) -> Any:
    """Read and parse one YAML file, naming it in every error.

    Parameters
    ----------
    path
        The file; only a regular file of at most `limit` bytes is read (see
        :func:`fitts.spec.files.read_text`).
    where
        The file and line that named `path` (an include), named in errors about reading it.
    what
        What the file is, for messages ("include", "trial file", ...).
    limit
        Largest size accepted, bytes.
    """
    text = read_text(path, limit=limit, where=where, what=what)
    return load_yaml_text(text, display_path(path))


def best_error(exc: Any) -> dict:
    """The most telling error of a pydantic ValidationError: a rule of ours (a value error) or a
    range violation before a type mismatch of another member of a union (``float | Prior``)."""
    errors = exc.errors(include_url=False)
    for kinds in (("value_error", "assertion_error"), ("greater_than", "greater_than_equal", "less_than",
                                                       "less_than_equal", "finite_number")):
        for err in errors:
            if err.get("type") in kinds:
                return err
    return errors[0]


def data_file_error(exc: Any, data: Any, shown: str | None, here: Location, hint: str) -> ModelError:
    """The first error of a pydantic ValidationError of a data file, as a ModelError.

    Names the dotted field path, the file and the line of the offending entry (found in the
    YAML's line marks), and `hint` as what to do. Used by the protocol and trial files,
    whose schemas are plain pydantic models rather than model-language entries.
    """
    err = best_error(exc)
    loc = tuple(err.get("loc", ()))
    # drop the union and discriminator tags pydantic puts in the path ('list[...]', 'StepComponent');
    # the last item is always kept: it is the user's own key (which may contain '[')
    path_ = [p for i, p in enumerate(loc)
             if i == len(loc) - 1 or not (isinstance(p, str) and ("[" in p or p[:1].isupper()))]
    where = ".".join(excerpt(p, 40).strip("'") if isinstance(p, str) else str(p) for p in path_)
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden" and path_:
        msg = f"unknown field {excerpt(path_[-1], 60)}"
    if err.get("type") == "missing" and path_:
        msg = f"missing field {excerpt(path_[-1], 60)}"
    line = (locate(data, path_) or line_at(data, path_[0])) if path_ else None
    entry = excerpt(path_[0], 60).strip("'") if path_ and isinstance(path_[0], str) else None
    return ModelError(f"{where + ': ' if where else ''}{msg}", Location(shown, line or here.line, entry), hint)
