"""Model files: validate, show, list, diagram and loops."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from fitts.cli.common import (
    ModelArg,
    _check_table_suffix,
    _command,
    _print_table,
    app,
    describe_value,
    out,
)

if TYPE_CHECKING:
    from fitts.spec.schema import EventSpec


@app.command()
def validate(model: ModelArg) -> None:
    """Load and check a model file (schema, names, expressions, includes).

    Prints one line with the model's size and content hash; exits 2 on the first problem,
    naming the file, line and entry.
    """
    from fitts.spec.load import load_model

    spec = load_model(model)
    extra = "".join(f", {len(getattr(spec, k))} {k}" for k in ("auxiliaries", "events") if getattr(spec, k))
    typer.echo(f"{model} is valid: {spec.name}, {len(spec.nodes)} nodes, {len(spec.edges)} "
               f"edges, {len(spec.parameters)} parameters{extra}, hash {spec.content_hash}")


@app.command()
def show(
    model: ModelArg,
    sources: Annotated[bool, typer.Option(
        "--sources", help="Add the citation (source) of every edge to the edge table.")] = False,
) -> None:
    """Show a model's nodes, inputs, signed edges, parameters and interventions as tables, and count
    its feedback loops."""
    from fitts.analysis.graph import loop_count
    from fitts.spec.load import load_model

    spec = load_model(model)
    out.print(f"[bold]{escape(spec.name)}[/bold]  ({escape(', '.join(spec.files))}; "
              f"hash {spec.content_hash})")
    if spec.description:
        out.print(spec.description.strip(), markup=False)
    if spec.time_unit != "days" or spec.dt is not None:
        step = f"; requires dt = {spec.dt:g} {spec.time_unit}" if spec.dt is not None else ""
        out.print(f"time in {spec.time_unit}{step}", markup=False)
    _print_table(f"{len(spec.nodes)} nodes", ("name", "label", "group", "tau (days)"),
                 ((name, node.label, node.group, describe_value(node.tau)) for name, node in spec.nodes.items()))
    if spec.inputs:
        _print_table(f"{len(spec.inputs)} inputs", ("name", "label", "units"),
                     ((name, inp.label, inp.units) for name, inp in spec.inputs.items()))
    with_source = ("source",) if sources else ()

    def cited(source: str | None) -> tuple[str, ...]:
        """The source cell of a row, when --sources asks for that column."""
        return (source or "",) if sources else ()

    _print_table(f"{len(spec.edges)} edges", ("from", "to", "sign", "weight", "mode", "grade", *with_source),
                 ((e.from_, e.to, e.sign, describe_value(e.weight),
                   e.mode if e.mode == "additive" else f"gated by {e.gate}", e.grade or "",
                   *cited(e.source)) for e in spec.edges.values()))
    if spec.parameters:
        _print_table(f"{len(spec.parameters)} parameters",
                     ("name", "prior or value", "units", "grade", "description", *with_source),
                     ((name, describe_value(par.prior) if par.prior is not None else describe_value(par.value),
                       par.units or "", par.grade or "", par.description or par.label or "",
                       *cited(par.source)) for name, par in spec.parameters.items()))
    if spec.interventions:
        _print_table(f"{len(spec.interventions)} interventions (`--intervention NAME`)",
                     ("name", "what it does", "grade"),
                     ((name, iv.description or iv.label or "", iv.grade or "")
                      for name, iv in spec.interventions.items()))
    if spec.auxiliaries:
        _print_table(f"{len(spec.auxiliaries)} auxiliaries (named expressions)",
                     ("name", "expression", "units", "description"),
                     ((name, str(a.expr), a.units or "", a.description or a.label or "")
                      for name, a in spec.auxiliaries.items()))
    if spec.events:
        _print_table(f"{len(spec.events)} events (simultaneous ones fire in this order)", ("name", "when", "sets"),
                     ((name, event_trigger(ev, spec.time_unit), "; ".join(f"{k} = {v}" for k, v in ev.set.items()))
                      for name, ev in spec.events.items()))
    if spec.omissions:
        _print_table(f"{len(spec.omissions)} claimed links left out on purpose", ("from", "to", "reason"),
                     ((o.from_, o.to, o.reason) for o in spec.omissions.values()))
    from fitts.spec.claims import claim_coverage

    cov = claim_coverage(spec)
    tally = {k: sum(c.status == k for c in cov) for k in ("edge", "omitted", "missing", "sign differs")}
    typer.echo(f"published claims (models/reference/claims.yaml, {len(cov)} rows): {tally['edge']} edges, "
               f"{tally['omitted']} omitted with a reason, {tally['missing']} unaccounted for, "
               f"{tally['sign differs']} with a different sign")
    counts = loop_count(spec)
    typer.echo(f"feedback loops: {counts['total']} ({counts['reinforcing']} reinforcing, "
               f"{counts['balancing']} balancing)")
    if any(node.rate is not None for node in spec.nodes.values()):
        from fitts.analysis.graph import signed_graph

        unsigned = signed_graph(spec).graph.get("unsigned_rate_links", [])
        if unsigned:
            typer.echo("links of custom rates left out of the loops, their sign unclear (declare it in "
                       "the node's `signs:`): " + ", ".join(unsigned))


def event_trigger(ev: EventSpec, unit: str = "days") -> str:
    """An event's trigger in words: `at 1, 2 days`, `every 1 days from 1 to 30`, `x crosses 0.5 (up)`,
    times in the model's `unit`."""
    if ev.at is not None:
        times = ev.at if isinstance(ev.at, list) else [ev.at]
        shown = ", ".join(f"{v:g}" for v in times[:6]) + (f", ... ({len(times)} times)" if len(times) > 6 else "")
        return f"at {shown} {unit}"
    if ev.every is not None:
        end = f" to {ev.end:g}" if ev.end is not None else ""
        return f"every {ev.every:g} {unit} from {ev.first:g}{end}"
    return f"{ev.when} crosses {ev.crosses} ({ev.direction})"


@app.command("list")
def list_models() -> None:
    """List the built-in theories and the modules they are composed of."""
    from fitts.spec.load import builtin_modules, builtin_theories, load_model
    from fitts.spec.yamlio import load_yaml_file

    specs = {name: load_model(name) for name in builtin_theories()}
    _print_table("built-in theories", ("name", "nodes", "edges", "omissions", "description"),
                 ((name, str(len(spec.nodes)), str(len(spec.edges)), str(len(spec.omissions)),
                   " ".join((spec.description or "").split())) for name, spec in specs.items()))
    # modules refer to each other's nodes: list them, don't validate
    raw = {name: load_yaml_file(path) or {} for name, path in builtin_modules().items()}
    _print_table("built-in modules (include with `module: NAME`)", ("name", "nodes", "edges", "description"),
                 ((name, str(len(r.get("nodes") or {})), str(len(r.get("edges") or [])),
                   str(r.get("description") or "")) for name, r in raw.items()))


@app.command()
def diagram(
    model: ModelArg,
    out_path: Annotated[Path, typer.Option(
        "--out", help="Output figure: .svg, .png or .pdf.", show_default=False)],
    highlight_loop: Annotated[int | None, typer.Option(
        "--highlight-loop", min=0, help="Highlight loop K (index in the order of "
        "`fitts loops`: by length, then node order).")] = None,
) -> None:
    """Draw the causal loop diagram of a model: signed edges, inputs, groups."""
    from fitts.analysis.graph import elementary_loops
    from fitts.plot.diagram import draw_diagram
    from fitts.spec.load import load_model

    spec = load_model(model)
    highlight = None
    title = None
    if highlight_loop is not None:
        loops = elementary_loops(spec)
        if highlight_loop >= len(loops):
            raise typer.BadParameter(
                f"the model has {len(loops)} loops (0..{len(loops) - 1}), no loop "
                f"{highlight_loop}", param_hint="--highlight-loop")
        chosen = loops[highlight_loop]
        highlight = chosen.edges
        title = f"{spec.name}: loop {highlight_loop} ({chosen.polarity}) " + " -> ".join(
            (*chosen.nodes, chosen.nodes[0]))
        typer.echo(f"loop {highlight_loop}: {chosen}")
    draw_diagram(spec, out_path, highlight=highlight, title=title)
    typer.echo(f"wrote {out_path}")


@app.command()
def loops(
    model: ModelArg,
    limit: Annotated[int, typer.Option(
        "--limit", min=0, help="Show at most this many loops (0: all).")] = 50,
    theories: Annotated[bool, typer.Option(
        "--theories", help="Add a column naming the built-in theories that contain each loop "
        "(same links by source, target and sign).")] = False,
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="Write the full loop table (.csv or .parquet).")] = None,
    draw: Annotated[int | None, typer.Option(
        "--draw", min=0, help="Draw loop K highlighted on the diagram (needs --figure).")] = None,
    figure: Annotated[Path | None, typer.Option(
        "--figure", help="Figure file for --draw: .svg, .png or .pdf.")] = None,
) -> None:
    """List the feedback loops of a model with their index, polarity and nodes."""
    from fitts.analysis.graph import elementary_loops
    from fitts.analysis.loops import loop_table
    from fitts.spec.load import load_model

    spec = load_model(model)
    if (draw is None) != (figure is None):
        raise typer.BadParameter("give --draw K and --figure FILE together", param_hint="--draw")
    found = elementary_loops(spec)
    df = loop_table(spec, theories=None if (theories or out_path is not None) else ())
    _print_table(f"{len(found)} feedback loops of {spec.name}",
                 ("K", "polarity", "length", "path", *(("theories",) if theories else ())),
                 ((str(k), lp.polarity, str(lp.length), " -> ".join((*lp.nodes, lp.nodes[0])),
                   *((df["theories"].iloc[k],) if theories else ()))
                  for k, lp in enumerate(found[:limit] if limit else found)))
    if out_path is not None:
        from fitts.io.results import save_table

        _check_table_suffix(out_path, "--out")
        save_table(df, out_path, {"model": spec.name, "model_hash": spec.content_hash,
                                  "command": _command()})
        typer.echo(f"wrote {out_path}")
    if draw is not None and figure is not None:
        from fitts.plot.diagram import draw_diagram

        if draw >= len(found):
            raise typer.BadParameter(f"the model has {len(found)} loops (0..{len(found) - 1}), no loop "
                                     f"{draw}", param_hint="--draw")
        chosen = found[draw]
        draw_diagram(spec, figure, highlight=chosen.edges,
                     title=f"{spec.name}: loop {draw} ({chosen.polarity}) "
                     + " -> ".join((*chosen.nodes, chosen.nodes[0])))
        typer.echo(f"wrote {figure}")


