"""Model files: validate, show, list, diagram and loops."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from fitts.cli.common import (
    ModelArg,
    _add_row,
    _check_table_suffix,
    _command,
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
    nodes = Table(title=f"{len(spec.nodes)} nodes")
    for col in ("name", "label", "group", "tau (days)"):
        nodes.add_column(col)
    for name, node in spec.nodes.items():
        _add_row(nodes, name, node.label, node.group, describe_value(node.tau))
    out.print(nodes)
    if spec.inputs:
        inputs = Table(title=f"{len(spec.inputs)} inputs")
        for col in ("name", "label", "units"):
            inputs.add_column(col)
        for name, inp in spec.inputs.items():
            _add_row(inputs, name, inp.label, inp.units)
        out.print(inputs)
    edges = Table(title=f"{len(spec.edges)} edges")
    for col in ("from", "to", "sign", "weight", "mode", "grade"):
        edges.add_column(col)
    if sources:
        edges.add_column("source")
    for edge in spec.edges.values():
        mode = edge.mode if edge.mode == "additive" else f"gated by {edge.gate}"
        row = [edge.from_, edge.to, edge.sign, describe_value(edge.weight), mode,
               edge.grade or ""]
        if sources:
            row.append(edge.source or "")
        _add_row(edges, *row)
    out.print(edges)
    if spec.parameters:
        params = Table(title=f"{len(spec.parameters)} parameters")
        for col in ("name", "prior or value", "units", "grade", "description"):
            params.add_column(col)
        if sources:
            params.add_column("source")
        for name, par in spec.parameters.items():
            value = describe_value(par.prior) if par.prior is not None else describe_value(par.value)
            row = [name, value, par.units or "", par.grade or "", par.description or par.label or ""]
            if sources:
                row.append(par.source or "")
            _add_row(params, *row)
        out.print(params)
    if spec.interventions:
        ivs = Table(title=f"{len(spec.interventions)} interventions (`--intervention NAME`)")
        for col in ("name", "what it does", "grade"):
            ivs.add_column(col)
        for name, iv in spec.interventions.items():
            _add_row(ivs, name, iv.description or iv.label or "", iv.grade or "")
        out.print(ivs)
    if spec.auxiliaries:
        aux = Table(title=f"{len(spec.auxiliaries)} auxiliaries (named expressions)")
        for col in ("name", "expression", "units", "description"):
            aux.add_column(col)
        for name, a in spec.auxiliaries.items():
            _add_row(aux, name, str(a.expr), a.units or "", a.description or a.label or "")
        out.print(aux)
    if spec.events:
        evs = Table(title=f"{len(spec.events)} events (simultaneous ones fire in this order)")
        for col in ("name", "when", "sets"):
            evs.add_column(col)
        for name, ev in spec.events.items():
            _add_row(evs, name, event_trigger(ev, spec.time_unit), "; ".join(f"{k} = {v}" for k, v in ev.set.items()))
        out.print(evs)
    if spec.omissions:
        om = Table(title=f"{len(spec.omissions)} claimed links left out on purpose")
        for col in ("from", "to", "reason"):
            om.add_column(col)
        for o in spec.omissions.values():
            _add_row(om, o.from_, o.to, o.reason)
        out.print(om)
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

    table = Table(title="built-in theories")
    for col in ("name", "nodes", "edges", "omissions", "description"):
        table.add_column(col)
    for name in builtin_theories():
        spec = load_model(name)
        _add_row(table, name, str(len(spec.nodes)), str(len(spec.edges)), str(len(spec.omissions)),
                 " ".join((spec.description or "").split()))
    out.print(table)
    mods = Table(title="built-in modules (include with `module: NAME`)")
    for col in ("name", "nodes", "edges", "description"):
        mods.add_column(col)
    for name, path in builtin_modules().items():
        raw = load_yaml_file(path) or {}  # modules refer to each other's nodes: list, don't validate
        _add_row(mods, name, str(len(raw.get("nodes") or {})), str(len(raw.get("edges") or [])),
                 str(raw.get("description") or ""))
    out.print(mods)


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
    table = Table(title=f"{len(found)} feedback loops of {spec.name}")
    cols = ["K", "polarity", "length", "path"] + (["theories"] if theories else [])
    for col in cols:
        table.add_column(col)
    for k, lp in enumerate(found[:limit] if limit else found):
        cells = [str(k), lp.polarity, str(lp.length), " -> ".join((*lp.nodes, lp.nodes[0]))]
        if theories:
            cells.append(df["theories"].iloc[k])
        _add_row(table, *cells)
    out.print(table)
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


