"""YAML reading that remembers where each entry was written.

PyYAML's safe loader is used (no Python tags, so a model file cannot build objects).
Mappings come back as :class:`LineDict`, which records the line of every key, and a
mapping that repeats a key is an error: YAML itself would silently keep the last one,
hiding a duplicated node or parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from fitts.errors import Location, ModelError, display_path

MAX_FILE_BYTES = 5_000_000


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


class _Loader(yaml.SafeLoader):
    """Safe loader building LineDict/LineList and rejecting duplicate keys."""

    filename: str | None = None


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) or key is None:
            raise ModelError(
                f"mapping key {key!r} is not a plain name",
                Location(loader.filename, key_node.start_mark.line + 1),
                "write keys as plain words",
            )
        key = str(key)
        if key in out:
            raise ModelError(
                f"duplicate name {key!r} (first written on line {out.key_lines[key]})",
                Location(loader.filename, key_node.start_mark.line + 1, key),
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


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml_text(text: str, filename: str | None = None) -> Any:
    """Parse YAML text into LineDict/LineList values; errors become ModelError."""

    class Loader(_Loader):
        pass

    Loader.filename = filename
    try:
        loader = Loader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except ModelError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        hint = "check indentation and that every 'key: value' pair has a space after the colon"
        if "sequence entries are not allowed" in problem:
            hint = "a lone '-' starts a list item; quote it (sign: '-') or write `negative`"
        raise ModelError(f"YAML syntax error: {problem}", Location(filename, line), hint) from None
    except yaml.YAMLError as exc:
        raise ModelError(f"YAML error: {exc}", Location(filename)) from None


def load_yaml_file(path: str | Path) -> Any:
    """Read and parse one YAML file, naming it in every error."""
    p = Path(path)
    shown = display_path(p)
    if not p.exists():
        raise ModelError(f"file not found: {shown}", Location(shown), "check the path")
    if p.is_dir():
        raise ModelError(f"{shown} is a folder, not a model file", Location(shown))
    if p.stat().st_size > MAX_FILE_BYTES:
        raise ModelError(
            f"file is larger than {MAX_FILE_BYTES // 1_000_000} MB", Location(shown),
            "model files describe structure; put data elsewhere",
        )
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ModelError("file is not UTF-8 text", Location(shown)) from None
    return load_yaml_text(text, shown)


def data_file_error(exc: Any, data: Any, shown: str | None, here: Location, hint: str) -> ModelError:
    """The first error of a pydantic ValidationError of a data file, as a ModelError.

    Names the dotted field path, the file and the line of the offending entry (found in the
    YAML's line marks), and `hint` as what to do. Used by the protocol and trial files,
    whose schemas are plain pydantic models rather than model-language entries.
    """
    err = exc.errors(include_url=False)[0]
    path_ = [p for p in err.get("loc", ()) if not (isinstance(p, str) and ("[" in p or p[:1].isupper()))]
    where = ".".join(map(str, path_))
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        msg = f"unknown field {path_[-1]!r}"
    if err.get("type") == "missing":
        msg = f"missing field {path_[-1]!r}"
    line = (locate(data, path_) or line_at(data, path_[0])) if path_ else None
    return ModelError(f"{where + ': ' if where else ''}{msg}",
                      Location(shown, line or here.line, str(path_[0]) if path_ else None), hint)
