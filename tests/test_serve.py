"""The workbench (`fitts serve`) through Starlette's test client: every view and form, errors next to
the field, variants the CLI reads, jobs (progress, cancel, crash), and the safety limits."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the `serve` extra is not installed")
pytest.importorskip("starlette.testclient", reason="Starlette's test client needs httpx2 (or httpx)")

from starlette.testclient import TestClient  # noqa: E402

from fitts.serve import create_app  # noqa: E402
from fitts.serve.graph import differing_edges, doi_urls, elements, loop_rows  # noqa: E402
from fitts.serve.jobs import JobManager, TooManyJobs  # noqa: E402
from fitts.serve.story import events  # noqa: E402
from fitts.spec.load import load_model, load_model_text  # noqa: E402


@pytest.fixture
def client(tmp_path: Path):
    app = create_app(tmp_path / "ws", warm_kernels=False)
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        c.workspace = tmp_path / "ws"
        yield c


def _script_json(html: str, element_id: str):
    m = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.S)
    assert m, f"no JSON block {element_id}"
    return json.loads(m.group(1))


# --------------------------------------------------------------------------- theory and compare


def test_every_view_renders(client) -> None:
    for path in ("/theory", "/compare", "/story", "/thresholds", "/jobs", "/variant"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert 'class="active"' in r.text and "fitts workbench" in r.text
    assert client.get("/", follow_redirects=False).headers["location"] == "/theory"


def test_theory_view_has_the_diagram_grouped_by_module_and_the_loops(client) -> None:
    r = client.get("/theory?theory=fitts")
    els = _script_json(r.text, "graph-0")
    spec = load_model("fitts")
    modules = {e["data"]["id"] for e in els if e["data"].get("kind") == "module"}
    assert modules == {f"module:{n.group}" for n in spec.nodes.values()}
    states = [e for e in els if e["data"].get("kind") == "state"]
    assert all(e["data"]["parent"] == f"module:{spec.nodes[e['data']['id']].group}" for e in states)
    edges = {e["data"]["id"]: e for e in els if e["group"] == "edges"}
    for eid, edge in spec.edges.items():
        assert edges[eid]["classes"].split()[0] == ("plus" if edge.sign == "+" else "minus")
        assert edges[eid]["data"]["grade"] == (edge.grade or "")
    # the loop list: every loop with its polarity, in the order of `fitts loops`
    assert len(re.findall(r'<li class="loop (reinforcing|balancing)"', r.text)) == len(loop_rows(spec))
    assert 'id="loop-0-0"' in r.text


def test_edge_hover_data_carries_weight_prior_source_doi_and_grade() -> None:
    spec = load_model("fitts")
    els = {e["data"]["id"]: e["data"] for e in elements(spec) if e["group"] == "edges"}
    for eid, edge in spec.edges.items():
        d = els[eid]
        assert d["citation"] == (edge.source or "") and d["grade"] == (edge.grade or "")
        assert d["weight"] and d["label"]
    assert els["threat -> salience"]["weight"].startswith(spec.edges["threat -> salience"].weight.dist + "(")
    # every built-in citation that gives a DOI gets its link
    cited = [d for d in els.values() if "doi:" in d["citation"]]
    assert cited
    for d in cited:
        dois = [part.split()[0].rstrip(".;,") for part in d["citation"].split("doi:")[1:]]
        assert d["doi"] == ["https://doi.org/" + x for x in dois]
    text = ("fitts: 1\nnodes:\n  a: {tau: 1}\n  b: {tau: 1}\nedges:\n  - {from: a, to: b, sign: +, weight: 0.5, "
            "grade: supported, source: 'Pinto AM et al. 2023, doi:10.1038/s41584-022-00873-0.'}\n")
    d = next(e["data"] for e in elements(load_model_text(text)) if e["group"] == "edges")
    assert d["doi"] == ["https://doi.org/10.1038/s41584-022-00873-0"] and d["grade"] == "supported"
    assert doi_urls("no identifier here") == []
    assert doi_urls("A. doi:10.1016/S0165-0327(00)00338-4; B (doi:10.1038/nrn1683).") == [
        "https://doi.org/10.1016/S0165-0327(00)00338-4", "https://doi.org/10.1038/nrn1683"]


def test_two_theories_side_by_side_mark_the_edges_that_differ(client) -> None:
    a, b = load_model("fitts"), load_model("sympathetic_drg")
    diff = differing_edges(a, b)
    assert diff["missing"], "FITTS has links the sympathetic-DRG theory lacks"
    r = client.get("/theory?theory=fitts&other=sympathetic_drg")
    left, right = _script_json(r.text, "graph-0"), _script_json(r.text, "graph-1")
    marked = {e["data"]["id"] for e in left
              if "differs" in e.get("classes", "").split() and "[gate" not in e["data"]["id"]}
    assert marked == diff["missing"] | diff["sign"] | diff["weight"]
    shared = [e["data"]["id"] for e in left if e["group"] == "nodes" and e["data"]["kind"] != "module"
              and e["data"]["id"] in {x["data"]["id"] for x in right}]
    pos_l = {e["data"]["id"]: e["position"] for e in left if "position" in e}
    pos_r = {e["data"]["id"]: e["position"] for e in right if "position" in e}
    assert shared and all(pos_l[n] == pos_r[n] for n in shared), "shared nodes sit at the same place"


def test_compare_view_lists_differing_links_and_loops(client) -> None:
    r = client.get("/compare?a=fitts&b=sympathetic_drg")
    assert r.status_code == 200
    assert "only in fitts" in r.text and "only in sympathetic_drg" in r.text
    assert "No finished scorecard" in r.text


def test_unknown_theory_is_an_error_page_not_a_crash(client) -> None:
    r = client.get("/theory?theory=../../etc/passwd")
    assert r.status_code == 400
    assert "no theory" in r.text


# --------------------------------------------------------------------------- patient story and thresholds

STORY = {"theory": "fitts", "patient": "predisposed", "days": "400", "seed": "0",
         "input": ["psychosocial_stress", ""], "start": ["30", ""], "length": ["120", ""], "size": ["2", ""],
         "given": ""}


def test_patient_story_shows_onset_persistence_and_the_cli_command(client, tmp_path: Path) -> None:
    r = client.post("/story/run", data=STORY)
    assert r.status_code == 200, r.text
    assert "onset on day" in r.text and "it persists" in r.text
    spec = _script_json(r.text, "story-spec")
    states = {v["state"] for v in spec["data"]["values"]}
    assert "pain" in states and len(states) == len(load_model("fitts").nodes)
    cmd = re.search(r'<pre class="command" id="story-command">(.*?)</pre>', r.text, re.S).group(1)
    assert cmd.startswith("fitts simulate fitts --patients 1 --days 400")
    # the CLI command reproduces the browser's story exactly (same files, same settings)
    from typer.testing import CliRunner

    from fitts.cli import app
    from fitts.io.results import load_dataset

    argv = cmd.replace("&#39;", "'").split()[1:]
    out = tmp_path / "story.nc"
    argv[argv.index("--out") + 1] = str(out)
    for flag in ("--patient-params", "--schedule"):
        i = argv.index(flag) + 1
        argv[i] = str(client.workspace / argv[i])
    res = CliRunner().invoke(app, argv)
    assert res.exit_code == 0, res.output
    pain = load_dataset(out).trajectory.sel(state="pain").values[0]
    shown = [v["value"] for v in spec["data"]["values"] if v["state"] == "pain"]
    assert pain[0] == pytest.approx(shown[0], abs=1e-4) and pain[-1] == pytest.approx(shown[-1], abs=1e-4)
    # the files are downloadable from the page, the result too
    link = re.search(r'<a href="(/stories/[0-9a-f]+/patient.yaml)">', r.text).group(1)
    assert "early_adversity: 1.0" in client.get(link).text
    nc = re.search(r'<a href="(/stories/[0-9a-f]+/story.nc)" id="story-nc">', r.text).group(1)
    served = tmp_path / "served.nc"
    served.write_bytes(client.get(nc).content)
    import numpy as np

    np.testing.assert_array_equal(load_dataset(served).trajectory.values, load_dataset(out).trajectory.values)


def test_story_of_a_typical_patient_recovers_or_never_starts(client) -> None:
    r = client.post("/story/run", data={**STORY, "patient": "median"})
    assert r.status_code == 200
    assert "no onset" in r.text or "recovery on day" in r.text


def test_story_with_given_parameters_and_a_bad_name_shows_the_error_at_the_field(client) -> None:
    r = client.post("/story/run", data={**STORY, "patient": "given", "given": "early_adversity: 1\n"})
    assert r.status_code == 200 and "onset on day" in r.text
    r = client.post("/story/run", data={**STORY, "patient": "given", "given": "early_adversty: 1\n"})
    assert r.status_code == 422
    assert 'data-for="error-given"' in r.text and "unknown parameter" in r.text and "early_adversity" in r.text


def test_story_patient_errors_go_next_to_the_patient_choice(client) -> None:
    r = client.post("/story/run", data={**STORY, "patient": "nobody"})
    assert r.status_code == 422 and 'data-for="error-patient"' in r.text and "unknown patient" in r.text


def test_a_long_story_does_not_hold_up_other_requests(client, monkeypatch) -> None:
    from fitts.serve import story as story_module

    started, release = threading.Event(), threading.Event()
    real = story_module.run_story

    def slow_story(*args, **kwargs):
        started.set()
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(story_module, "run_story", slow_story)
    done: list[int] = []
    t = threading.Thread(target=lambda: done.append(client.post("/story/run", data=STORY).status_code))
    t.start()
    assert started.wait(30)
    t0 = time.time()
    assert client.get("/jobs/list").status_code == 200  # answered while the story is still running
    assert time.time() - t0 < 5 and not done
    release.set()
    t.join(120)
    assert done == [200]


def test_story_with_a_bad_stressor_names_it(client) -> None:
    r = client.post("/story/run", data={**STORY, "input": ["no_such_input"], "start": ["3"], "length": ["5"],
                                        "size": ["1"]})
    assert r.status_code == 422
    assert 'data-for="error-stressors"' in r.text and "no_such_input" in r.text
    r = client.post("/story/run", data={**STORY, "input": ["psychosocial_stress"], "start": ["3"],
                                        "length": ["-5"], "size": ["1"]})
    assert r.status_code == 422 and "duration" in r.text


def test_story_days_are_bounded(client) -> None:
    r = client.post("/story/run", data={**STORY, "days": "1e9"})
    assert r.status_code == 422 and "out of range" in r.text


def test_story_event_reading() -> None:
    import numpy as np

    t = np.arange(10.0)
    ev = events(t, np.array([0, 0, .6, .7, .8, .6, .3, .2, .1, .1]), stressor_end=4)
    assert ev["onset"] == 2 and ev["recovery"] == 6 and not ev["persists"]
    ev = events(t, np.array([0, 0, .6, .7, .8, .6, .6, .6, .6, .6]), stressor_end=4)
    assert ev["persists"] and ev["recovery"] is None
    assert events(t, np.zeros(10), 4)["onset"] is None


@pytest.mark.slow
def test_thresholds_view_shows_hysteresis(client) -> None:
    r = client.post("/thresholds/run", data={"theory": "fitts", "patient": "predisposed",
                                             "param": "psychosocial_stress", "low": "-2", "high": "4", "given": ""})
    assert r.status_code == 200, r.text
    onset = float(re.search(r"onset threshold:</b> ([-0-9.e]+)", r.text).group(1))
    recovery = float(re.search(r"recovery threshold:</b> ([-0-9.e]+)", r.text).group(1))
    assert recovery < onset
    spec = _script_json(r.text, "thr-spec")
    stab = {v["stability"] for v in spec["layer"][0]["data"]["values"]}
    assert stab == {"stable", "unstable"}
    assert "fitts bifurcate fitts --param psychosocial_stress --range -2 4 --patient predisposed" in r.text
    table = re.search(r'<a href="(/stories/[0-9a-f]+/thresholds.csv)"', r.text).group(1)
    assert client.get(table).text.startswith("branch,point,value,stable")


def test_thresholds_bad_range_is_an_error(client) -> None:
    r = client.post("/thresholds/run", data={"theory": "fitts", "patient": "median", "param": "psychosocial_stress",
                                             "low": "4", "high": "-2"})
    assert r.status_code == 422 and "not usable" in r.text


# --------------------------------------------------------------------------- variants


def _edit(client, **form):
    base = {"base": "fitts", "name": "mine"}
    return client.post("/variant/edit", data={**base, **form})


def test_variant_edits_are_saved_as_a_model_file_the_cli_reads(client) -> None:
    r = _edit(client, edit="weight", edge="threat -> salience", weight="{dist: lognormal, median: 0.9, sigma: 0.2}")
    assert r.status_code == 200 and 'id="edit-ok"' in r.text
    r = _edit(client, edit="remove", edge="pain -> sleep_disturbance")
    assert r.status_code == 200
    r = _edit(client, edit="add", **{"from": "fatigue", "to": "hpa", "sign": "+", "weight": "0.3",
                                     "source": "Example 2024, doi:10.1000/xyz1", "grade": "hypothetical"})
    assert r.status_code == 200
    r = _edit(client, edit="prevalence", parameter="early_adversity", p="0.3")
    assert r.status_code == 200
    path = client.workspace / "models" / "mine.yaml"
    from typer.testing import CliRunner

    from fitts.cli import app

    res = CliRunner().invoke(app, ["validate", str(path)])
    assert res.exit_code == 0, res.output
    spec = load_model(path)
    base = load_model("fitts")
    assert spec.edges["threat -> salience"].weight.median == 0.9
    assert "pain -> sleep_disturbance" not in spec.edges and "fatigue -> hpa" in spec.edges
    assert spec.edges["fatigue -> hpa"].grade == "hypothetical"
    assert spec.parameters["early_adversity"].prior.p == 0.3
    assert len(spec.edges) == len(base.edges)  # one removed, one added
    text = path.read_text()
    assert text.count("# edit: ") == 4 and "# base: fitts" in text
    # the variant is a theory of the workbench now
    assert "mine.yaml" in client.get("/theory").text
    assert client.get("/models/mine.yaml").text == text


@pytest.mark.parametrize(("form", "field", "message"), [
    ({"edit": "weight", "edge": "threat -> salience", "weight": "-1"}, "weight", "contradicts the declared sign"),
    ({"edit": "weight", "edge": "threat -> salience", "weight": "abc"}, "weight", "unknown name 'abc'"),
    ({"edit": "weight", "edge": "threat -> salience", "weight": ""}, "weight", "give a value"),
    ({"edit": "add", "from": "pain", "to": "nowhere", "sign": "+", "weight": "0.5"}, "to", "unknown node 'nowhere'"),
    ({"edit": "add", "from": "nowhere", "to": "pain", "sign": "+", "weight": "0.5"}, "from", "unknown node 'nowhere'"),
    ({"edit": "add", "from": "pain", "to": "fatigue", "sign": "-", "weight": "0.5"}, "weight",
     "contradicts the declared sign"),
    ({"edit": "prevalence", "parameter": "early_adversity", "p": "1.5"}, "p", "less than or equal to 1"),
    ({"edit": "prevalence", "parameter": "threat_bias", "p": "0.5"}, "parameter", "not a predisposition"),
    ({"edit": "remove", "edge": "no -> such"}, "edge", "no edge"),
])
def test_a_bad_edit_shows_the_validator_error_next_to_the_field_and_saves_nothing(client, form, field, message):
    r = _edit(client, **form)
    assert r.status_code == 422
    m = re.search(rf'<div class="field-error" id="error-{form["edit"]}-{field}">(.*?)</div>', r.text, re.S)
    assert m, r.text[:2000]
    assert message in m.group(1).replace("&#39;", "'")
    assert not (client.workspace / "models" / "mine.yaml").exists()


def test_variant_name_is_checked(client) -> None:
    r = client.post("/variant/edit", data={"base": "fitts", "name": "../evil", "edit": "remove",
                                           "edge": "pain -> sleep_disturbance"})
    assert r.status_code == 422 and 'id="error-name"' in r.text
    assert not any(client.workspace.parent.glob("evil*"))


def test_a_variant_includes_its_theory_and_says_what_it_changes(client) -> None:
    import yaml

    for name in ("fitts", "sympathetic_drg", "integrated"):
        r = client.post("/variant/edit", data={"base": name, "name": f"{name}-v", "edit": "remove",
                                               "edge": next(iter(load_model(name).edges))})
        assert r.status_code == 200, r.text
        path = client.workspace / "models" / f"{name}-v.yaml"
        data = yaml.safe_load(path.read_text())
        assert data["includes"] == [{"module": name, "exclude": {"edges": [next(iter(load_model(name).edges))]}}]
        spec = load_model(path)
        assert spec.parents == (name,)
        assert len(spec.edges) == len(load_model(name).edges) - 1
    # a variant of a model file of the workspace includes it by path, and the CLI reads it
    good = ("fitts: 1\nname: tiny\nnodes:\n  a: {tau: 1}\n  b: {tau: 2}\n"
            "edges:\n  - {from: a, to: b, sign: +, weight: 0.5}\n")
    client.post("/theory/upload", files={"model": ("tiny.yaml", good.encode(), "text/yaml")})
    r = client.post("/variant/edit", data={"base": "tiny.yaml", "name": "tiny-v", "edit": "add",
                                           "from": "b", "to": "a", "sign": "-", "weight": "-0.3"})
    assert r.status_code == 200, r.text
    path = client.workspace / "models" / "tiny-v.yaml"
    assert yaml.safe_load(path.read_text())["includes"] == [{"path": "tiny.yaml"}]
    assert set(load_model(path).edges) == {"a -> b", "b -> a"}
    # a model file that was not made here is not overwritten by edits
    r = client.post("/variant/edit", data={"base": "fitts", "name": "tiny", "edit": "remove",
                                           "edge": "pain -> sleep_disturbance"})
    assert r.status_code == 422 and "not made here" in r.text
    assert (client.workspace / "models" / "tiny.yaml").read_text() == good


# --------------------------------------------------------------------------- upload


def test_upload_of_a_model_file(client) -> None:
    good = ("fitts: 1\nname: tiny\nnodes:\n  a: {tau: 1}\n  b: {tau: 2}\n"
            "edges:\n  - {from: a, to: b, sign: +, weight: 0.5}\n")
    r = client.post("/theory/upload", files={"model": ("tiny.yaml", good.encode(), "text/yaml")},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/theory?theory=tiny.yaml"
    assert (client.workspace / "models" / "tiny.yaml").read_text() == good
    assert client.get("/theory?theory=tiny.yaml").status_code == 200
    # a directory in the uploaded name is dropped: the file lands in models/
    r = client.post("/theory/upload", files={"model": ("../../tiny2.yaml", good.encode(), "text/yaml")})
    assert r.status_code == 200 and (client.workspace / "models" / "tiny2.yaml").is_file()
    assert not (client.workspace.parent / "tiny2.yaml").exists()


@pytest.mark.parametrize(("name", "body", "message"), [
    ("bad.yaml", b"nodes:\n  a: {tau: -1}\n", "tau"),
    ("inc.yaml", b"includes:\n  - path: ../../secret.yaml\n", "includes a file by path"),
    ("big.yaml", b"#" * 1_000_100, "larger than"),
    ("bad name!.yaml", b"fitts: 1\nnodes:\n  a: {tau: 1}\n", "not allowed"),
    ("bin.yaml", b"\xff\xfe\x00", "not UTF-8"),
])
def test_bad_uploads_are_refused_with_a_reason(client, name, body, message) -> None:
    r = client.post("/theory/upload", files={"model": (name, body, "text/yaml")})
    assert r.status_code in (413, 422)
    assert message in r.text
    assert not list((client.workspace / "models").glob("*.yaml"))


# --------------------------------------------------------------------------- jobs


def test_job_manager_runs_cancels_bounds_and_survives_a_crash(tmp_path: Path) -> None:
    jm = JobManager(tmp_path, max_running=1, max_queued=1)
    gate = threading.Event()

    def slow(progress, folder):
        for i in range(200):
            progress(i / 200)
            if gate.wait(0.01):
                break
        (folder / "out.txt").write_text("done")
        return {"summary": "ok"}

    a = jm.submit("test", "a", slow)
    b = jm.submit("test", "b", slow)
    with pytest.raises(TooManyJobs, match="wait for one"):
        jm.submit("test", "c", slow)
    deadline = time.time() + 20
    while a.fraction == 0 and time.time() < deadline:
        time.sleep(0.01)
    assert a.state == "running" and 0 < a.fraction < 1 and b.state == "queued"
    jm.cancel(a.id)
    assert jm.wait(a.id, 10).state == "cancelled"
    gate.set()
    assert jm.wait(b.id, 10).state == "done" and b.files() == ["out.txt"] and b.fraction == 1.0

    def crash(progress, folder):
        raise ZeroDivisionError("boom")

    c = jm.submit("test", "c", crash)
    c = jm.wait(c.id, 10)
    assert c.state == "failed" and c.error == "unexpected ZeroDivisionError: boom"
    d = jm.submit("test", "d", lambda p, f: {"summary": "still running"})
    assert jm.wait(d.id, 10).state == "done"
    jm.shutdown()


def test_job_routes_lifecycle_with_a_crashing_job(client) -> None:
    r = client.post("/jobs/new/evaluate", data={"theory": "fitts", "patients": "5", "seed": "0"})
    assert r.status_code == 422 and "out of range" in r.text
    r = client.post("/jobs/new/trial", data={"theory": "fitts", "trial": "../../x.yaml", "patients": "20"})
    assert r.status_code == 422 and "no trial file" in r.text
    jobs = client.app.state.jobs
    job = jobs.submit("evaluate", "a job that crashes", lambda p, f: 1 / 0)
    jobs.wait(job.id, 10)
    page = client.get(f"/jobs/{job.id}")
    assert page.status_code == 200 and "failed" in page.text and "ZeroDivisionError" in page.text
    assert client.get("/jobs/list").status_code == 200
    assert client.get("/jobs/nope").status_code == 404
    assert client.get(f"/jobs/{job.id}/files/..%2F..%2Fetc%2Fpasswd").status_code == 404


def test_cancel_route(client) -> None:
    jobs = client.app.state.jobs
    stop = threading.Event()

    def work(progress, folder):
        while not stop.is_set():
            progress(0.5)
            time.sleep(0.01)
        return {}

    job = jobs.submit("trial", "endless", work)
    deadline = time.time() + 20
    while job.state != "running" and time.time() < deadline:
        time.sleep(0.01)
    r = client.post(f"/jobs/{job.id}/cancel", headers={"hx-request": "true"})
    assert r.status_code == 200
    assert jobs.wait(job.id, 10).state == "cancelled"
    stop.set()


def test_a_refused_edit_keeps_what_was_typed_and_chosen(client) -> None:
    r = _edit(client, edit="weight", edge="threat -> salience", weight="-1")
    assert r.status_code == 422
    assert '<option value="threat -&gt; salience" selected>' in r.text
    assert 'id="weight-value" value="-1"' in r.text


@pytest.mark.slow
def test_trial_job_writes_the_cli_files(client) -> None:
    r = client.post("/jobs/new/trial", data={"theory": "fitts", "trial": "example.yaml", "patients": "16",
                                             "seed": "0"})
    assert r.status_code == 200, r.text
    jobs = client.app.state.jobs
    job = jobs.wait(jobs.list()[0].id, 900)
    assert job.state == "done", job.error
    assert {"patients.parquet", "effects.parquet", "arms.parquet", "timecourse.parquet", "outcomes.png"} <= \
        set(job.files())
    page = client.get(f"/jobs/{job.id}")
    assert 'id="effects"' in page.text and "fitts trial example.yaml --theory fitts --patients 16" in page.text


# --------------------------------------------------------------------------- the command


def test_fitts_serve_binds_localhost_and_prints_the_address(tmp_path: Path) -> None:
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "fitts.cli", "serve", "--port", "0", "--workspace",
                             str(tmp_path / "ws")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline()]
        while not lines[-1].startswith("fitts workbench on") and lines[-1] and len(lines) < 20:
            lines.append(proc.stdout.readline())  # notes printed before the address are allowed
        m = re.match(r"fitts workbench on (http://127\.0\.0\.1:(\d+)/) ", lines[-1])
        assert m, "".join(lines) + (proc.stderr.read() if proc.poll() is not None else "")
        with urllib.request.urlopen(m.group(1) + "theory", timeout=300) as r:  # a loaded CI machine
            assert r.status == 200 and b"fitts workbench" in r.read()
        assert (tmp_path / "ws" / "models").is_dir()
    finally:
        proc.terminate()
        try:
            proc.wait(120)  # a loaded machine may take a while to shut the server down
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


def test_fitts_serve_on_a_busy_port_is_a_clear_error(tmp_path: Path, capsys) -> None:
    import socket

    from fitts.cli import main

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(["serve", "--port", str(port), "--workspace", str(tmp_path / "ws")])
        assert exit_info.value.code == 2
        assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    finally:
        busy.close()


def test_a_finished_scorecard_is_shown_downloadable_and_compared(client) -> None:
    import math

    import pandas as pd

    cols = ["id", "title", "design", "grade", "statistic", "published", "published_interval", "accept",
            "simulated", "mc_low", "mc_high", "status", "n", "note"]
    rows = [["B01", "Prevalence", "cross", "A", "prevalence", 0.0178, "", "[0.01, 0.06]", 0.05, 0.04, 0.06,
             "pass", 100, ""],
            ["B16", "Abuse", "case-control", "B", "odds_ratio", 2.49, "", "[1.5, 4]", 9.0, math.nan, math.nan,
             "fail", 80, "too few cases for an interval"],
            ["B65", "Self-compassion", "cross", "B", "r", -0.53, "", "[-0.75, -0.25]", math.nan, math.nan, math.nan,
             "not expressible", 0, "model has no 'soothing' state"]]
    jobs = client.app.state.jobs

    def work(progress, folder):
        progress(0.5)
        pd.DataFrame(rows, columns=cols).to_csv(folder / "scorecard.csv", index=False)
        return {"key": "fitts", "summary": "fitts: 1 of 3 targets pass", "command": "fitts evaluate fitts"}

    job = jobs.wait(jobs.submit("evaluate", "a scorecard", work).id, 10)
    assert job.state == "done"
    page = client.get(f"/jobs/{job.id}")
    assert page.status_code == 200 and 'id="scorecard"' in page.text
    assert "9 [, ]" in page.text and "not expressible: model has no" in page.text.replace("&#39;", "'")
    assert client.get(f"/jobs/{job.id}/files/scorecard.csv").text.startswith("id,title")
    cmp = client.get("/compare?a=fitts&b=integrated")
    assert 'id="score-compare"' in cmp.text and 'class="status pass"' in cmp.text


def test_the_diagram_layout_is_the_one_fitts_diagram_draws() -> None:

    from fitts.analysis.graph import signed_graph
    from fitts.plot.diagram import _group_layout as figure_layout
    from fitts.serve.graph import _group_layout

    for name in ("fitts", "sympathetic_drg", "integrated"):
        g = signed_graph(load_model(name))
        ours, theirs = _group_layout(g), figure_layout(g)
        assert set(ours) == set(theirs)
        for n, (x, y) in ours.items():
            assert (x, y) == pytest.approx(tuple(theirs[n]), abs=1e-12)


def test_other_sites_and_host_names_are_refused(client) -> None:
    r = client.post("/variant/edit", data={"base": "fitts", "name": "x", "edit": "remove",
                                           "edge": "pain -> sleep_disturbance"},
                    headers={"origin": "http://evil.example"})
    assert r.status_code == 403 and "may not change" in r.text
    assert not (client.workspace / "models" / "x.yaml").exists()
    assert client.get("/theory", headers={"host": "rebound.example:8765"}).status_code == 403
    r = client.post("/variant/edit", data={"base": "fitts", "name": "x", "edit": "remove",
                                           "edge": "pain -> sleep_disturbance"},
                    headers={"origin": "http://127.0.0.1:8765"})
    assert r.status_code == 200


@pytest.mark.slow
def test_stories_move_to_the_fast_kernel_once_it_is_ready(tmp_path: Path) -> None:
    app = create_app(tmp_path / "ws", warm_kernels=True)
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        kernels = app.state.kernels
        deadline = time.time() + 600
        backend, note = kernels.backend("fitts")
        while backend == "numpy" and time.time() < deadline:
            assert "fast kernel is being prepared" in note
            time.sleep(1)
            backend, note = kernels.backend("fitts")
        assert (backend, note) == ("numba", None)
        r = c.post("/story/run", data=STORY)
        assert r.status_code == 200 and "s on numba)" in r.text and 'id="story-note"' not in r.text
