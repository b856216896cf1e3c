"""Benchmark: the workbench's start-up and a patient story's response time.

Starts `fitts serve --port 0` in a fresh workspace and measures, from the launch:
the printed address, the first answer of the theory page, and the causal loop diagram
drawn in headless Chromium (Debian's `chromium`, driven by Playwright; opened before the
launch). Then posts one patient story (the predisposed patient of `fitts`, a psychosocial
stressor of size 2 from day 30 for 120 days, 500 days) on the NumPy backend, waits until
the theory's numba kernel is compiled in the background, and times warm stories: on the
server, as an HTTP round trip, and in the browser from the click to the drawn chart.

Usage: python bench/bench_serve.py [--chromium /usr/bin/chromium] [--theory fitts]
Prints the figures; docs/serve.md keeps the last ones measured.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--theory", default="fitts")
    ap.add_argument("--warm-runs", type=int, default=3)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    ws = tempfile.mkdtemp(prefix="fitts-bench-serve-")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "fitts.cli", "serve", "--port", "0", "--workspace", ws],
                                stdout=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            t_print = time.perf_counter() - t0
            url = re.search(r"http://\S+/", line).group(0)
            with urllib.request.urlopen(url + f"theory?theory={args.theory}", timeout=300) as r:
                r.read()
            t_http = time.perf_counter() - t0
            page.goto(url + f"theory?theory={args.theory}")
            page.wait_for_selector("#cy-0[data-ready='1']", timeout=300_000)
            t_page = time.perf_counter() - t0
            print(f"address printed after {t_print:.2f} s; theory page answers after {t_http:.2f} s; "
                  f"diagram drawn in the browser after {t_page:.2f} s")

            form = [("theory", args.theory), ("patient", "predisposed"), ("days", "500"), ("seed", "0"),
                    ("input", "psychosocial_stress"), ("start", "30"), ("length", "120"), ("size", "2"),
                    ("given", "")]

            def story(size: float) -> tuple[float, float, str]:
                data = urllib.parse.urlencode([(k, f"{size:g}" if k == "size" else v) for k, v in form]).encode()
                t = time.perf_counter()
                with urllib.request.urlopen(url + "story/run", data=data, timeout=300) as r:
                    html = r.read().decode()
                server, backend = re.search(r"\((\S+) s on (\w+)\)", html).groups()
                return time.perf_counter() - t, float(server), backend

            rt, server, backend = story(2.0)
            print(f"first story: {server:.2f} s on the server ({backend}), {rt:.2f} s round trip")
            t = time.perf_counter()
            while backend != "numba" and time.perf_counter() - t < 600:
                time.sleep(5)
                rt, server, backend = story(1.9)
            print(f"numba kernel ready {time.perf_counter() - t:.0f} s later")
            for i in range(args.warm_runs):
                rt, server, backend = story(1.0 + 0.3 * i)
                print(f"warm story: {server:.3f} s on the server ({backend}), {rt:.3f} s round trip")
            page.goto(url + f"story?theory={args.theory}")
            t = time.perf_counter()
            page.click("#run-story")
            page.wait_for_selector("#story-done .vega[data-ready='1'] svg", timeout=300_000)
            print(f"warm story in the browser, click to drawn chart: {time.perf_counter() - t:.2f} s")
        finally:
            proc.terminate()
            proc.wait(20)
            browser.close()
            shutil.rmtree(ws, ignore_errors=True)


if __name__ == "__main__":
    main()
