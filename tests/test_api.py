"""The public API: every advertised name resolves, and importing fitts stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import fitts


@pytest.mark.parametrize("name", sorted(fitts._API))
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(fitts, name) is not None


def test_unknown_name_is_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'simulat'"):
        fitts.simulat  # noqa: B018


def test_import_does_not_load_numba_or_xarray() -> None:
    code = "import sys, fitts; print(sorted(m for m in ('numba', 'xarray', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
