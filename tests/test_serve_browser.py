"""The workbench in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright.

The tests never download a browser: they use the system's chromium binary (`FITTS_CHROMIUM`,
else `chromium` on the PATH) and are skipped, saying so, when there is none. Set
``FITTS_SCREENSHOTS=docs`` to refresh the screenshots of each view (docs/serve-*.png); a
plain run writes no file into the checkout.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the `serve` extra is not installed")
playwright_api = pytest.importorskip("playwright.sync_api", reason="the Python package `playwright` is not installed")

CHROMIUM = os.environ.get("FITTS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = os.environ.get("FITTS_SCREENSHOTS")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (install Debian's `chromium` package, "
                       "or point FITTS_CHROMIUM at one): browser tests skipped"),
]


def shot(page, name: str) -> None:
    """Save a screenshot of the page as <FITTS_SCREENSHOTS>/serve-<name>.png, only when asked to."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"serve-{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The workbench on a free port of 127.0.0.1, in a thread; yields its address."""
    import uvicorn

    from fitts.serve import create_app

    ws = tmp_path_factory.mktemp("workspace")
    app = create_app(ws, warm_kernels=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "the server did not start"
    yield {"url": f"http://127.0.0.1:{port}", "workspace": ws, "app": app}
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(60_000)
    yield pg
    ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_theory_view_hover_and_click_a_loop(server, page) -> None:
    page.goto(server["url"] + "/theory?theory=fitts")
    page.wait_for_selector("#cy-0[data-ready='1']")
    n_edges = page.evaluate("window.fittsGraphs['cy-0'].edges().length")
    assert n_edges >= 45
    # hover over a link with the mouse: the tooltip shows its label, weight prior, grade and source
    box = page.locator("#cy-0").bounding_box()
    mid = page.evaluate("(() => { const e = window.fittsGraphs['cy-0'].getElementById('threat -> salience');"
                        " return e.renderedMidpoint(); })()")
    page.mouse.move(box["x"] + mid["x"], box["y"] + mid["y"])
    tip = page.locator("#tip")
    tip.wait_for(state="visible")
    assert "weight prior" in tip.inner_text() and "evidence grade" in tip.inner_text()
    # click a loop: its links and states light up, everything else fades
    page.click("#loop-0-5")
    hot = page.evaluate("window.fittsGraphs['cy-0'].edges('.hot').map(e => e.id()).sort()")
    assert hot == sorted(["threat -> salience", "salience -> pain", "pain -> threat"])
    assert page.locator("#loop-0-5").get_attribute("class").endswith("selected")
    assert "reinforcing" in page.inner_text("#details-0")
    page.mouse.move(0, 0)
    shot(page, "theory")
    page.click("#loop-0-5")  # a second click clears the highlight
    assert page.evaluate("window.fittsGraphs['cy-0'].edges('.hot').length") == 0


def test_two_theories_side_by_side(server, page) -> None:
    page.goto(server["url"] + "/theory?theory=fitts&other=sympathetic_drg")
    page.wait_for_selector("#cy-1[data-ready='1']")
    differs = page.evaluate("window.fittsGraphs['cy-0'].edges('.differs').length")
    assert differs > 0
    shot(page, "side-by-side")


def test_patient_story_runs_and_draws(server, page) -> None:
    page.goto(server["url"] + "/story?theory=fitts")
    page.click("#add-stressor")
    assert page.locator("#stressors tr.stressor").count() == 3
    page.click("#run-story")
    page.wait_for_selector("#story-done .vega[data-ready='1'] svg")
    assert "onset on day" in page.inner_text("#story-events")
    assert page.inner_text("#story-command").startswith("fitts simulate fitts --patients 1")
    assert page.locator("#story-done svg path").count() > 5  # lines were drawn
    shot(page, "story")
    # a stressor the theory does not have: the error appears under the timeline
    page.fill("#stressors tr.stressor:nth-of-type(2) input[name=length]", "-3")
    page.click("#run-story")
    page.wait_for_function("document.getElementById('error-stressors').textContent.length > 0")
    assert "duration" in page.inner_text("#error-stressors")


def test_edit_a_variant_see_the_error_then_save(server, page) -> None:
    page.goto(server["url"] + "/variant?base=fitts&name=browser-variant")
    page.select_option("#weight-edge", "threat -> salience")
    page.fill("#weight-value", "-1")
    page.click("#save-weight")
    err = page.locator("#error-weight-weight")
    err.wait_for()
    assert "contradicts the declared sign" in err.inner_text()
    assert not (server["workspace"] / "models" / "browser-variant.yaml").exists()
    page.fill("#weight-value", "{dist: lognormal, median: 0.9, sigma: 0.2}")
    page.click("#save-weight")
    page.locator("#edit-ok").wait_for()
    page.fill("#prev-p", "0.3")
    page.click("#save-prevalence")
    page.wait_for_function("document.querySelectorAll('#edit-list li').length == 2")
    saved = server["workspace"] / "models" / "browser-variant.yaml"
    from fitts.spec.load import load_model

    spec = load_model(saved)
    assert spec.edges["threat -> salience"].weight.median == 0.9
    assert spec.parameters["early_adversity"].prior.p == 0.3
    page.select_option("#remove-edge", "pain -> sleep_disturbance")
    page.fill("#add-from", "fatigue")
    page.fill("#add-to", "nowhere")
    page.fill("#add-weight", "0.4")
    page.click("#save-add")
    page.locator("#error-add-to").wait_for()
    assert "unknown node 'nowhere'" in page.inner_text("#error-add-to")
    shot(page, "variant")


@pytest.mark.slow
def test_thresholds_view(server, page) -> None:
    page.goto(server["url"] + "/thresholds?theory=fitts")
    page.click("#run-thresholds")
    page.wait_for_selector("#thresholds-done .vega[data-ready='1'] svg", timeout=180_000)
    text = page.inner_text("#thresholds-values")
    assert "onset threshold" in text and "none in range" not in text
    shot(page, "thresholds")


@pytest.mark.slow
def test_scorecard_job_with_progress_then_compare(server, page) -> None:
    page.goto(server["url"] + "/jobs?theory=fitts")
    page.fill("#evaluate-form input[name=patients]", "300")
    page.click("#run-evaluate")
    page.wait_for_selector("#jobs-list tr.job")
    assert page.locator("#jobs-list tr.job progress").count() == 1
    page.wait_for_selector("#jobs-list tr.job.done", timeout=900_000)
    shot(page, "jobs")
    page.click("#jobs-list tr.job.done a")
    page.wait_for_selector("#scorecard")
    assert page.locator("#scorecard tr").count() > 5
    page.wait_for_function("document.getElementById('forest').complete")
    shot(page, "scorecard")
    page.goto(server["url"] + "/compare?a=fitts&b=sympathetic_drg")
    assert page.locator("#score-compare").count() == 1
    shot(page, "compare")
