"""The workspace folder: the only place the workbench reads user files from or writes to.

Layout: ``models/`` (uploaded theories and saved variants, model files the CLI reads),
``jobs/<id>/`` (the files a background job wrote, as the CLI writes them) and
``stories/`` (the patient-parameter and schedule files of the last patient story).
The browser names theories by key: a built-in theory's name, or ``NAME.yaml`` for a file
in ``models/``. Keys are checked against a strict pattern and resolved inside the folder.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fitts.errors import ModelError, did_you_mean

#: file names the browser may give (no separators, no leading dot)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def check_name(name: str, what: str = "name") -> str:
    """A plain file stem: letters, digits, ``_`` and ``-`` (at most 64), else ModelError."""
    name = (name or "").strip()
    if not _NAME.match(name):
        raise ModelError(f"{what} {name[:70]!r} is not allowed",
                         hint="use 1-64 letters, digits, '_' or '-', starting with a letter or digit")
    return name


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write a file via a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@dataclass
class Workspace:
    """A folder the workbench owns; every file it touches is below `root`."""

    root: Path
    _compiled: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        for sub in ("models", "jobs", "stories"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ paths
    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    @property
    def stories(self) -> Path:
        return self.root / "stories"

    def inside(self, path: Path) -> Path:
        """`path` resolved, or ModelError when it lies outside the workspace."""
        p = path.resolve()
        if p != self.root and self.root not in p.parents:
            raise ModelError(f"{path.name!r} is outside the workspace", hint="name a file the workbench listed")
        return p

    # ------------------------------------------------------------------ theories
    def theory_keys(self) -> list[str]:
        """Built-in theory names, then the model files in ``models/`` (``NAME.yaml``)."""
        from fitts.spec.load import builtin_theories

        files = sorted(p.name for p in self.models.glob("*.yaml") if _NAME.match(p.stem))
        return [*builtin_theories(), *files]

    def theory_path(self, key: str) -> Path:
        """The model file of a theory key (a built-in's package file or a workspace file)."""
        from fitts.spec.load import builtin_theories

        builtins = builtin_theories()
        if key in builtins:
            return builtins[key]
        if key.endswith(".yaml") and _NAME.match(key[:-5]):
            p = self.inside(self.models / key)
            if p.is_file():
                return p
        raise ModelError(f"no theory {key[:70]!r}." + did_you_mean(key, self.theory_keys()),
                         hint="choose a built-in theory or a model file of the workspace")

    def cli_name(self, key: str) -> str:
        """How the CLI names the theory when run in the workspace folder."""
        return key if not key.endswith(".yaml") else f"models/{key}"

    def spec(self, key: str) -> Any:
        """The validated Spec of a theory key."""
        from fitts.spec.load import load_model

        return load_model(self.theory_path(key))

    def compiled(self, key: str) -> Any:
        """The compiled model of a theory key, cached by file content."""
        from fitts.compile.compiled import compile_model

        path = self.theory_path(key)
        stamp = f"{path.stat().st_mtime_ns}:{path.stat().st_size}"
        with self._lock:
            hit = self._compiled.get((key, stamp))
        if hit is not None:
            return hit
        m = compile_model(self.spec(key))
        with self._lock:
            self._compiled = {k: v for k, v in self._compiled.items() if k[0] != key}
            self._compiled[(key, stamp)] = m
        return m
