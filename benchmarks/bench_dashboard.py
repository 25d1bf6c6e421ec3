"""How fast each dashboard page renders after the first load (target: <= 2 s on a 2-core machine).

Two measurements, each round a fresh process (a restart of the dashboard: Streamlit's in-process
caches empty) over the bundled samples, with the on-disk caches (parsed traces and analyses)
filled by a warm-up run first, in a temporary cache folder:

- in process, `streamlit.testing.v1.AppTest`: the Runs page's first load, then each page's first
  render after it (Run detail, Compare, Recommend, Runs again), then each page's second render;
  the time of `AppTest.run()`, the script run alone;
- in a real browser (Debian's `chromium`, driven by playwright) against a live `profkit dashboard`
  server: the first load of "/" (the Runs page, and the blank chart that loads the plotly bundle),
  then a sidebar click to each page, timed until the page's last element is drawn, its plotly charts
  are on screen and Streamlit's run is over; each page once (first visit after the first load) and
  again (second visit). Each round is a new browser context (nothing cached).

One extra AppTest round starts from an empty cache folder (the first ever load: traces parsed and
analyzed) for reference. Medians over --rounds; the table marks figures over the target.

    python benchmarks/bench_dashboard.py [--rounds 3] [--no-browser] [--traces-dir traces/samples]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's profkit, here and in the processes started (PYTHONPATH)
sys.path.insert(0, str(ROOT / "tests"))  # the tests' live-server helpers
from live_server import CHROMIUM_ARGS, ServerDidNotStart, free_port, stop, wait_healthy  # noqa: E402

TARGET_S = 2.0
#: (page script, sidebar title, text of the page's last element, plotly charts it draws at least)
PAGES = (
    ("detail", "Run detail", "Download as JSON", 6),
    ("compare", "Compare", "Download this comparison as Markdown", 1),
    ("recommend", "Recommend", "profkit estimate prints it", 1),
    ("runs", "Runs", "Analyze a trace file", 0),
)
#: Charts of the first load: the blank one `widgets.preload_charts` draws in the sidebar, so that the
#: browser has loaded Streamlit's plotly bundle (~1 s of JavaScript here) before the first page switch.
FIRST_LOAD_CHARTS = 1

APPTEST_CHILD = r"""
import json, sys, time
from streamlit.testing.v1 import AppTest
app, pages = sys.argv[1], sys.argv[2].split(",")
at = AppTest.from_file(app, default_timeout=600)
out = {}
t0 = time.perf_counter(); at.run(); out["first load (Runs)"] = time.perf_counter() - t0
assert not at.exception, at.exception
for visit in ("first", "second"):
    for page in pages:
        at.switch_page(f"views/{page}.py")
        t0 = time.perf_counter(); at.run(); out[f"{page} {visit}"] = time.perf_counter() - t0
        assert not at.exception, (page, at.exception)
print("RESULT " + json.dumps(out))
"""


def apptest_round(env: dict) -> dict:
    r = subprocess.run(
        [sys.executable, "-c", APPTEST_CHILD, str(ROOT / "profkit" / "dashboard" / "app.py"), ",".join(p[0] for p in PAGES)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=ROOT,
        check=False,
    )
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if r.returncode != 0 or line is None:
        raise SystemExit(f"AppTest round failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    return json.loads(line[len("RESULT ") :])


# ---- browser -------------------------------------------------------------------------------------
def _start_server(traces_dir: Path, env: dict, log) -> tuple[subprocess.Popen, str]:
    from profkit.cli.dashboard import streamlit_command

    port = free_port()
    proc = subprocess.Popen(streamlit_command(traces_dir, port=port, headless=True), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        return proc, wait_healthy(proc, port, timeout_s=120)
    except ServerDidNotStart as exc:
        raise SystemExit(str(exc)) from None


def _drawn(pg, title: str, last_text: str, charts: int) -> None:
    """Until the page titled `title` has drawn its last element and `charts` plotly charts, and its run is over."""
    pg.locator("h1", has_text=title).first.wait_for(state="visible")
    pg.get_by_text(last_text, exact=False).first.wait_for(state="visible")
    if charts:
        pg.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {charts}")
    pg.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')")
    assert pg.locator('[data-testid="stException"]').count() == 0, f"{title}: an exception is shown"


def browser_round(browser, traces_dir: Path, env: dict, log) -> dict:
    proc, url = _start_server(traces_dir, env, log)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        pg = context.new_page()
        pg.set_default_timeout(120_000)
        out = {}
        t0 = time.perf_counter()
        pg.goto(url)  # "/" opens the Runs page
        _drawn(pg, "Runs", "Analyze a trace file", FIRST_LOAD_CHARTS)
        out["first load (Runs)"] = time.perf_counter() - t0
        for visit in ("first", "second"):
            for script, title, last_text, charts in PAGES:
                t0 = time.perf_counter()
                pg.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
                _drawn(pg, title, last_text, charts)
                out[f"{script} {visit}"] = time.perf_counter() - t0
        return out
    finally:
        context.close()
        stop(proc)


# ---- report --------------------------------------------------------------------------------------
def table(title: str, rounds: list[dict]) -> None:
    print(f"\n{title} (median of {len(rounds)} round{'s' * (len(rounds) > 1)}; target <= {TARGET_S:.0f} s after the first load)")
    print(f"| {'page':<12} | {'first visit after the first load':>32} | {'second visit':>12} |")
    print(f"|{'-' * 14}|{'-' * 34}:|{'-' * 14}:|")
    first = statistics.median(r["first load (Runs)"] for r in rounds)
    print(f"| {'(first load: Runs)':<12} | {first:>30.2f} s | {'':>12} |")
    for script, page_title, _, _ in PAGES:
        cells = []
        for visit in ("first", "second"):
            m = statistics.median(r[f"{script} {visit}"] for r in rounds)
            cells.append(f"{m:.2f} s" + (" !" if m > TARGET_S else ""))
        print(f"| {page_title:<12} | {cells[0]:>32} | {cells[1]:>12} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true", help="only the in-process AppTest measurement")
    parser.add_argument("--traces-dir", type=Path, default=ROOT / "traces" / "samples")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="profkit-bench-dashboard-") as tmp:
        cache = Path(tmp) / "cache"
        env = dict(os.environ, PYTHONPATH=str(ROOT), PROFKIT_CACHE_DIR=str(cache), PROFKIT_TRACES_DIR=str(args.traces_dir.resolve()))
        print(f"traces: {args.traces_dir}; caches in {cache} (removed afterwards); {os.cpu_count()} CPUs")
        cold = apptest_round(env)  # empty cache folder: the first ever load; fills the on-disk caches
        table("AppTest, first ever (empty cache folder: traces parsed and analyzed)", [cold])
        table("AppTest, after a restart (on-disk caches filled)", [apptest_round(env) for _ in range(args.rounds)])
        if args.no_browser:
            return
        chromium = shutil.which("chromium")
        if chromium is None:
            print("\nbrowser: skipped (Debian's chromium is not installed: apt-get install -y chromium)")
            return
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p, open(Path(tmp) / "server.log", "w+") as log:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            try:
                rounds = [browser_round(browser, args.traces_dir.resolve(), env, log) for _ in range(args.rounds)]
            finally:
                browser.close()
        table("Browser (headless Chromium, live server restarted each round): sidebar click to page drawn", rounds)


if __name__ == "__main__":
    main()
