"""Test-session settings shared by every test module."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Cached results (typical patients, compiled kernels) go to a folder of this test session,
    never to the user's cache; subprocesses of the CLI tests inherit it."""
    old = os.environ.get("FITTS_CACHE_DIR")
    if old is None:
        os.environ["FITTS_CACHE_DIR"] = str(tmp_path_factory.mktemp("fitts-cache"))
    yield
    if old is None:
        os.environ.pop("FITTS_CACHE_DIR", None)
