"""The `fitts` command: a thin layer of command modules over the library.

Every error `fitts` raises on purpose is printed as ``error: <message>`` on stderr,
without a traceback (unless ``--debug``), and the process exits with the error's code:
2 for bad input (model or data files, options), 1 for a failed run, 0 on success.

Modules: :mod:`~fitts.cli.common` (the app, shared options, progress bars, :func:`main`),
:mod:`~fitts.cli.options` (checked options), and one module per group of commands.
"""

from __future__ import annotations

from importlib import import_module

from fitts.cli.common import app, describe_thresholds, describe_value, load_schedule_file, main, parse_intervention

# importing the command modules registers their commands on `app`, in this order in --help
for _module in ("models", "simulation", "analysis", "evaluation", "diary", "trials", "report", "workbench"):
    import_module(f"fitts.cli.{_module}")

__all__ = ["app", "describe_thresholds", "describe_value", "load_schedule_file", "main", "parse_intervention"]
