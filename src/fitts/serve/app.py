"""The Starlette application of `fitts serve`: routes, forms and the views' templates.

Views: theory (causal loop diagram and loops, optionally beside a second theory),
compare (links, loops and scorecards of two theories), patient story, thresholds,
jobs (scorecard and trial in the background) and edit variant. Pages are rendered with
Jinja2; forms post with htmx and get back the part of the page that changes.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from markupsafe import Markup
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from fitts.errors import FittsError, ModelError
from fitts.serve import graph, story, tasks
from fitts.serve.jobs import JobManager, TooManyJobs
from fitts.serve.variants import EDITS, FieldError, apply_edit, load_variant
from fitts.serve.workspace import Workspace, check_name, write_atomic

HERE = Path(__file__).parent
#: largest model file accepted by the upload form (bytes)
MAX_UPLOAD = 1_000_000
#: largest form body accepted by any other form (bytes)
MAX_FORM = 200_000

VIEWS = [("theory", "Theory"), ("compare", "Compare"), ("story", "Patient story"),
         ("thresholds", "Thresholds"), ("jobs", "Scorecard & trial"), ("variant", "Edit variant")]


def _blank_nan(df: Any) -> Any:
    """A table with its missing cells as empty text (for display)."""
    return df.astype(object).where(df.notna(), "")


def _g3(value: Any) -> str:
    """A number with 3 significant digits; anything else (a blank cell) as it is."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "" if value != value else f"{value:.3g}"
    return str(value)


def _json(value: Any) -> Markup:
    """JSON for a <script type="application/json"> block (no closing tags inside)."""
    return Markup(json.dumps(value).replace("</", "<\\/"))


class Kernels:
    """Compile the fast (numba) kernel of a theory in the background, once.

    Until a theory's kernel is ready, stories run on the NumPy backend (same results,
    slower); afterwards on numba.
    """

    def __init__(self, ws: Workspace, enabled: bool):
        self.ws, self.enabled = ws, enabled
        self._ready: set[str] = set()
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fitts-kernel")

    def backend(self, key: str) -> str:
        """`numba` when the theory's kernel is compiled, else `numpy` (and start compiling it)."""
        if not self.enabled:
            return "numpy"
        m = self.ws.compiled(key)
        with self._lock:
            if m.model_hash in self._ready:
                return "numba"
            if m.model_hash not in self._pending:
                self._pending.add(m.model_hash)
                self._pool.submit(self._warm, m)
        return "numpy"

    def warm(self, key: str) -> None:
        """Start compiling the kernel of a theory (if enabled and not done yet); errors are left to the views."""
        try:
            self.backend(key)
        except FittsError:
            pass

    def _warm(self, m: Any) -> None:
        from fitts.sim.simulate import simulate

        try:
            simulate(m, patients=1, days=1.0, dt=story.DT, noise=False, backend="numba", command="warm-up")
            with self._lock:
                self._ready.add(m.model_hash)
        except Exception:  # noqa: BLE001 - no fast kernel: stories stay on NumPy
            pass
        finally:
            with self._lock:
                self._pending.discard(m.model_hash)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def create_app(workspace: str | Path = "fitts-workspace", *, max_jobs: int = 1, warm_kernels: bool = True) -> Starlette:
    """The workbench as an ASGI application.

    Parameters
    ----------
    workspace
        Folder for uploaded theories, saved variants, job results and story files
        (created if missing). Nothing outside it is written.
    max_jobs
        Background jobs running at once (four more may wait).
    warm_kernels
        Compile a theory's numba kernel in the background the first time it is used, so
        later stories are fast; off: every story runs on NumPy.
    """
    ws = Workspace(Path(workspace))
    jobs = JobManager(ws.jobs, max_running=max_jobs)
    kernels = Kernels(ws, warm_kernels)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["tojson_script"] = _json
    templates.env.filters["g3"] = _g3

    def page(request: Request, template: str, view: str, status: int = 200, warm: str | None = None,
             **ctx: Any) -> Response:
        ctx.setdefault("theories", ws.theory_keys())
        # once the page is sent, start compiling the theory's fast kernel, so that its stories are quick
        background = BackgroundTask(kernels.warm, warm) if warm and status == 200 else None
        return templates.TemplateResponse(request, template, {"views": VIEWS, "view": view, "ws": ws, **ctx},
                                          status_code=status, background=background)

    def partial(request: Request, template: str, status: int = 200, **ctx: Any) -> Response:
        return templates.TemplateResponse(request, template, {"ws": ws, **ctx}, status_code=status)

    async def form(request: Request, limit: int = MAX_FORM) -> FormData:
        size = int(request.headers.get("content-length") or 0)
        if size > limit:
            raise HTTPException(413, f"form too large ({size} bytes; at most {limit})")
        return await request.form(max_files=0 if limit == MAX_FORM else 1, max_fields=200)

    def theory_arg(value: str | None, default: str = "fitts") -> str:
        key = value or default
        ws.theory_path(key)
        return key

    # ------------------------------------------------------------------ theory
    def theory_view(request: Request) -> Response:
        q = request.query_params
        key = theory_arg(q.get("theory"))
        other = q.get("other") or ""
        a = ws.spec(key)
        panels = []
        if other:
            theory_arg(other)
            b = ws.spec(other)
            pos = graph.layout([a, b])
            panels = [{"key": key, "spec": a, "elements": graph.elements(a, pos, graph.differing_edges(a, b)),
                       "loops": graph.loop_rows(a)},
                      {"key": other, "spec": b, "elements": graph.elements(b, pos, graph.differing_edges(b, a)),
                       "loops": graph.loop_rows(b)}]
        else:
            panels = [{"key": key, "spec": a, "elements": graph.elements(a), "loops": graph.loop_rows(a)}]
        return page(request, "theory.html", "theory", warm=key, key=key, other=other, panels=panels)

    # ------------------------------------------------------------------ compare
    def compare_view(request: Request) -> Response:
        q = request.query_params
        keys = ws.theory_keys()
        ka = theory_arg(q.get("a"), keys[0])
        kb = theory_arg(q.get("b"), keys[1] if len(keys) > 1 else keys[0])
        a, b = ws.spec(ka), ws.spec(kb)
        la, lb = graph.loop_rows(a), graph.loop_rows(b)
        paths_a = {r["path"] for r in la}
        paths_b = {r["path"] for r in lb}
        cards = _scorecards(ws, jobs, [ka, kb])
        return page(request, "compare.html", "compare", a=a, b=b, ka=ka, kb=kb, diff=graph.edge_diff_rows(a, b),
                    loops_a=la, loops_b=lb, only_a=sorted(paths_a - paths_b), only_b=sorted(paths_b - paths_a),
                    shared=len(paths_a & paths_b), cards=cards)

    # ------------------------------------------------------------------ story
    def story_view(request: Request) -> Response:
        key = theory_arg(request.query_params.get("theory"))
        m = ws.compiled(key)
        return page(request, "story.html", "story", warm=key, key=key, inputs=list(m.inputs), patients=story.PATIENTS,
                    predispositions=story.predispositions(m.spec))

    async def story_run(request: Request) -> Response:
        f = await form(request)
        errors: dict[str, str] = {}
        try:
            key = theory_arg(f.get("theory"))
            rows = story.stressor_rows({k: f.getlist(k) for k in ("input", "start", "length", "size")})
            days = float(f.get("days") or 500)
            noise = f.get("noise") == "on"
            seed = int(f.get("seed") or 0)
            result = story.run_story(ws, key, str(f.get("patient") or "predisposed"), rows, days=days,
                                     given_text=str(f.get("given") or ""), noise=noise, seed=seed,
                                     backend=kernels.backend(key))
        except ValueError as exc:
            errors["form"] = f"not a number: {exc}"
            return partial(request, "_story_result.html", 422, errors=errors)
        except FittsError as exc:
            field = "given" if f.get("patient") == "given" and "given.yaml" in str(exc) else "stressors"
            errors[field] = str(exc)
            return partial(request, "_story_result.html", 422, errors=errors)
        return partial(request, "_story_result.html", result=result, errors=errors)

    # ------------------------------------------------------------------ thresholds
    def thresholds_view(request: Request) -> Response:
        key = theory_arg(request.query_params.get("theory"))
        m = ws.compiled(key)
        return page(request, "thresholds.html", "thresholds", key=key, inputs=list(m.inputs), patients=story.PATIENTS)

    async def thresholds_run(request: Request) -> Response:
        f = await form(request)
        try:
            key = theory_arg(f.get("theory"))
            span = (float(f.get("low") or -2), float(f.get("high") or 4))
            result = story.run_thresholds(ws, key, str(f.get("patient") or "predisposed"),
                                          param=str(f.get("param") or "psychosocial_stress"), span=span,
                                          given_text=str(f.get("given") or ""))
        except ValueError as exc:
            return partial(request, "_thresholds_result.html", 422, error=f"not a number: {exc}")
        except FittsError as exc:
            return partial(request, "_thresholds_result.html", 422, error=str(exc))
        return partial(request, "_thresholds_result.html", result=result)

    # ------------------------------------------------------------------ jobs
    def jobs_view(request: Request) -> Response:
        return page(request, "jobs.html", "jobs", jobs=jobs.list(), trials=list(tasks.trial_files(ws)),
                    key=theory_arg(request.query_params.get("theory")))

    def jobs_list(request: Request) -> Response:
        return partial(request, "_jobs_list.html", jobs=jobs.list())

    async def jobs_submit(request: Request) -> Response:
        f = await form(request)
        kind = request.path_params["kind"]
        try:
            key = theory_arg(f.get("theory"))
            if kind == "evaluate":
                title, work = tasks.evaluate_job(ws, key, f.get("patients", "1000"), f.get("seed", "0"))
            else:
                title, work = tasks.trial_job(ws, str(f.get("trial") or ""), key, f.get("patients", "40"),
                                              f.get("seed", "0"))
            jobs.submit(kind, title, work)
        except TooManyJobs as exc:
            return partial(request, "_jobs_list.html", 429, jobs=jobs.list(), error=str(exc))
        except FittsError as exc:
            return partial(request, "_jobs_list.html", 422, jobs=jobs.list(), error=str(exc))
        return partial(request, "_jobs_list.html", jobs=jobs.list())

    def _job(request: Request) -> Any:
        try:
            return jobs.get(request.path_params["jid"])
        except KeyError:
            raise HTTPException(404, "no such job") from None

    def job_view(request: Request) -> Response:
        job = _job(request)
        table = None
        if job.state == "done" and job.kind == "evaluate" and (job.folder / "scorecard.csv").is_file():
            import pandas as pd

            table = _blank_nan(pd.read_csv(job.folder / "scorecard.csv")).to_dict("records")
        return page(request, "job.html", "jobs", job=job, table=table)

    async def job_cancel(request: Request) -> Response:
        job = _job(request)
        jobs.cancel(job.id)
        if request.headers.get("hx-request"):
            return partial(request, "_jobs_list.html", jobs=jobs.list())
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)

    def job_file(request: Request) -> Response:
        job = _job(request)
        name = request.path_params["name"]
        if name not in job.files():
            raise HTTPException(404, "no such file in this job")
        return FileResponse(ws.inside(job.folder / name), filename=name)

    # ------------------------------------------------------------------ variants
    def variant_view(request: Request) -> Response:
        q = request.query_params
        base = theory_arg(q.get("base"))
        name = q.get("name") or f"{Path(base).stem}-variant"
        return page(request, "variant.html", "variant", **_editor(ws, base, name))

    async def variant_edit(request: Request) -> Response:
        f = await form(request)
        base = theory_arg(f.get("base"))
        name = str(f.get("name") or "")
        edit = str(f.get("edit") or "")
        fields = {k: str(v) for k, v in f.items()}
        try:
            apply_edit(ws, base, name, edit, fields)
        except FieldError as exc:
            ctx = _editor(ws, base, name if _ok_name(name) else f"{Path(base).stem}-variant")
            ctx.update(failed=edit, errors={exc.field: exc.message}, values=fields)
            return partial(request, "_variant_editor.html", 422, **ctx)
        ctx = _editor(ws, base, name)
        ctx["saved"] = edit
        return partial(request, "_variant_editor.html", **ctx)

    def model_file(request: Request) -> Response:
        name = request.path_params["name"]
        if not name.endswith(".yaml") or name not in ws.theory_keys():
            raise HTTPException(404, "no such model file in the workspace")
        return FileResponse(ws.theory_path(name), filename=name, media_type="text/yaml")

    async def upload(request: Request) -> Response:
        f = await form(request, MAX_UPLOAD + 10_000)
        up = f.get("model")
        error = None
        try:
            if up is None or isinstance(up, str):
                raise ModelError("choose a model file (.yaml) to upload")
            stem = check_name(Path(up.filename or "").stem, "file name")
            data = await up.read(MAX_UPLOAD + 1)
            if len(data) > MAX_UPLOAD:
                raise ModelError(f"the file is larger than {MAX_UPLOAD} bytes")
            text = data.decode("utf-8", errors="strict")
            _check_upload(ws, text, f"{stem}.yaml")
            write_atomic(ws.models / f"{stem}.yaml", text)
        except UnicodeDecodeError:
            error = "the file is not UTF-8 text"
        except FittsError as exc:
            error = str(exc)
        if error:
            return page(request, "theory.html", "theory", status=422, key="fitts", other="", panels=[],
                        upload_error=error)
        return RedirectResponse(f"/theory?theory={stem}.yaml", status_code=303)

    def story_file(request: Request) -> Response:
        folder, name = request.path_params["folder"], request.path_params["name"]
        if name not in ("patient.yaml", "schedule.yaml") or not folder.isalnum():
            raise HTTPException(404, "no such story file")
        path = ws.inside(ws.stories / folder / name)
        if not path.is_file():
            raise HTTPException(404, "no such story file")
        return FileResponse(path, filename=name, media_type="text/yaml")

    def home(request: Request) -> Response:
        return RedirectResponse("/theory", status_code=307)

    async def fitts_error(request: Request, exc: Exception) -> Response:
        return page(request, "error.html", "", status=getattr(exc, "status_code", 400),
                    message=getattr(exc, "detail", None) or str(exc))

    routes = [
        Route("/", home),
        Route("/theory", theory_view),
        Route("/theory/upload", upload, methods=["POST"]),
        Route("/compare", compare_view),
        Route("/story", story_view),
        Route("/story/run", story_run, methods=["POST"]),
        Route("/stories/{folder}/{name}", story_file),
        Route("/thresholds", thresholds_view),
        Route("/thresholds/run", thresholds_run, methods=["POST"]),
        Route("/jobs", jobs_view),
        Route("/jobs/list", jobs_list),
        Route("/jobs/new/{kind:str}", jobs_submit, methods=["POST"]),
        Route("/jobs/{jid}", job_view),
        Route("/jobs/{jid}/cancel", job_cancel, methods=["POST"]),
        Route("/jobs/{jid}/files/{name}", job_file),
        Route("/variant", variant_view),
        Route("/variant/edit", variant_edit, methods=["POST"]),
        Route("/models/{name}", model_file),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

    def on_shutdown() -> None:
        jobs.shutdown()
        kernels.shutdown()

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Starlette):  # noqa: ANN202 - the lifespan protocol
        yield
        on_shutdown()

    app = Starlette(routes=routes, exception_handlers={FittsError: fitts_error, HTTPException: fitts_error},
                    lifespan=lifespan)
    app.state.workspace = ws
    app.state.jobs = jobs
    app.state.kernels = kernels
    return app


def _ok_name(name: str) -> bool:
    try:
        check_name(name)
        return True
    except ModelError:
        return False


def _check_upload(ws: Workspace, text: str, filename: str) -> None:
    """An uploaded model must load with the CLI's validator and include only built-in modules."""
    from fitts.spec.load import load_model_text
    from fitts.spec.yamlio import load_yaml_text

    data = load_yaml_text(text, filename)
    for inc in (data.get("includes") or []) if isinstance(data, dict) else []:
        if isinstance(inc, dict) and "path" in inc:
            raise ModelError(f"{filename}: includes a file by path ({str(inc['path'])[:60]!r})",
                             hint="an uploaded model may include built-in modules only (`module: NAME`); "
                                  "paste the included file's entries into this one")
    load_model_text(text, filename, base=ws.models)


def _editor(ws: Workspace, base: str, name: str) -> dict[str, Any]:
    """What the variant editor shows: the variant (or its base) and the choices of each form."""
    current = load_variant(ws, name)
    spec = current.spec if current is not None else ws.spec(base)
    params = story.predispositions(spec)
    return {"base": base, "name": name, "variant": current, "spec": spec, "edits": EDITS,
            "edge_ids": list(spec.edges), "nodes": [*spec.nodes, *spec.inputs],
            "prevalences": {p: spec.parameters[p].prior.p for p in params},
            "weights": {eid: graph._describe(e.weight) for eid, e in spec.edges.items()},
            "errors": {}, "values": {}, "failed": None, "saved": None}


def _scorecards(ws: Workspace, jobs: JobManager, keys: list[str]) -> dict[str, Any] | None:
    """Targets by status for the latest finished scorecard job of each theory, or None."""
    import pandas as pd

    latest: dict[str, Any] = {}
    for job in jobs.list():  # newest first
        k = job.summary.get("key")
        if job.kind == "evaluate" and job.state == "done" and k in keys and k not in latest:
            latest[k] = job
    if not latest:
        return None
    rows: dict[str, dict[str, Any]] = {}
    for k, job in latest.items():
        df = _blank_nan(pd.read_csv(job.folder / "scorecard.csv"))
        for r in df.itertuples():
            row = rows.setdefault(r.id, {"id": r.id, "title": r.title})
            row[k] = r.status
            row[f"{k}:sim"] = r.simulated
    return {"keys": [k for k in keys if k in latest], "jobs": latest, "rows": list(rows.values())}
