"""`fitts serve`: the workbench in the browser, a client of the same library functions as the CLI.

Why this stack
--------------
The workbench is a small local application for researchers who do not write YAML. It is
built from plain, well-kept parts that fit a scientific Python package:

- **Starlette** (ASGI) serves pages and forms, and **uvicorn** runs it: a thin, stable
  layer with no ORM, no front-end build and a test client (httpx) that exercises every
  route in-process. FastAPI would add request models we do not need; Dash or Panel would
  take over page layout and state, and make the forms harder to test without a browser.
- **Jinja2** templates render every page on the server, so what a view shows is tested
  as HTML, and **htmx** swaps the parts that change (a patient's story, an edit's result,
  a job's progress) without a single-page framework.
- Graphs use maintained JavaScript libraries, vendored as package data so the workbench
  works offline: **Cytoscape.js** for causal loop diagrams (compound nodes for modules,
  hover and click events), **Vega-Lite** with vega-embed for plots (declarative JSON
  specifications that Python builds and the tests can read).

Safety: the browser only ever names things (a built-in theory, a file in the workspace
listed by the server, a job id); every path is resolved inside the workspace folder, model
text is checked by the same validator as the CLI (nothing is passed to ``eval``), uploads
are size-limited, and jobs run in a bounded pool where a crash is reported, not fatal.
"""

from __future__ import annotations

from fitts.serve.app import create_app as create_app
