"""The browser workbench: serve."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from fitts.cli.common import (
    app,
)
from fitts.errors import ModelError


@app.command()
def serve(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free port).")] = 8765,
    host: Annotated[str, typer.Option(
        "--host", help="Address to bind; the default serves this computer only.")] = "127.0.0.1",
    workspace: Annotated[Path, typer.Option(
        "--workspace", help="Folder for uploaded theories, saved variants and job results (created if missing); "
        "the workbench writes nowhere else.")] = Path("fitts-workspace"),
    max_jobs: Annotated[int, typer.Option("--max-jobs", min=1, max=8, help="Background jobs running at once.")] = 1,
) -> None:
    """Start the workbench in the browser: theories, patient stories, thresholds, scorecards, variants.

    Prints the address to open; stop it with Ctrl-C. Needs the `serve` extra
    (`pip install "fitts[serve]"`).
    """
    try:
        import uvicorn

        from fitts.serve import create_app
    except ModuleNotFoundError as exc:
        raise ModelError(f"the workbench needs the `serve` extra ({exc.name} is missing)",
                         hint='pip install "fitts[serve]"') from None
    import socket

    application = create_app(workspace, max_jobs=max_jobs)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)  # connections wait in the backlog from now on: the address printed works at once
    except OSError as exc:
        raise ModelError(f"cannot listen on {host}:{port}: {exc.strerror}",
                         hint="choose another --port (or 0 for any free one)") from None
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"fitts workbench on http://{shown}:{bound}/  (workspace {workspace.resolve()}; Ctrl-C stops it)")
    sys.stdout.flush()
    config = uvicorn.Config(application, log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


# --------------------------------------------------------------------------- entry point


