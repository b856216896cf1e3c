"""Test-session setup: compiled kernels are cached in the project's pytest cache folder.

The suite compiles many small models' kernels (random models included); keeping them in
``.pytest_cache`` keeps the user's own kernel cache clean and makes a second run of the
suite load them instead of compiling. ``make clean`` removes the folder. An explicit
``FITTS_CACHE_DIR`` in the environment wins. Hypothesis examples have no deadline.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# Property tests check values, not speed: on a loaded machine (CI, parallel workers) an
# example may take longer than hypothesis' default 200 ms deadline without being wrong.
settings.register_profile("fitts", deadline=None)
settings.load_profile("fitts")


def pytest_configure(config: pytest.Config) -> None:
    cache = getattr(config, "cache", None)
    if cache is not None and "FITTS_CACHE_DIR" not in os.environ:
        os.environ["FITTS_CACHE_DIR"] = str(cache.mkdir("fitts-cache"))
