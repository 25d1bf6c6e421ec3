"""The dashboard in a real browser: `streamlit run` on a free localhost port, driven by headless
Chromium (Debian's `chromium` package) through playwright.

Each page is opened (by the sidebar and by its own URL), its key texts and plotly charts must
render, and a full-page screenshot is saved to a temporary folder (the path is printed with -s).
How fast pages render is measured in benchmarks/, not asserted here.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from live_server import CHROMIUM, CHROMIUM_ARGS, ServerDidNotStart, free_port, stop, wait_healthy

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "traces" / "samples"
INT8 = "h200_llama3-8b_int8_b1.pt.trace.json.gz"
FP16 = "h200_llama3-8b_fp16_b1.pt.trace.json.gz"
BF16 = "h200_llama3-8b_bf16_b1.pt.trace.json.gz"
BF16_REP = "h200_llama3-8b_bf16_b1_rep1.pt.trace.json.gz"
SERVER_START_TIMEOUT_S = 60

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`profkit dashboard`'s own streamlit command over the samples, on a free port; yields the base URL."""
    from profkit.cli.dashboard import streamlit_command

    port = free_port()
    env = dict(os.environ, PROFKIT_CACHE_DIR=str(tmp_path_factory.getbasetemp() / "profkit-dashboard-cache"))
    with open(tmp_path_factory.mktemp("streamlit") / "server.log", "w+") as log:
        proc = subprocess.Popen(streamlit_command(SAMPLES, port=port, headless=True), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = wait_healthy(proc, port, SERVER_START_TIMEOUT_S)
        except ServerDidNotStart as exc:
            log.seek(0)
            pytest.fail(f"{exc}:\n{log.read()[-3000:]}")
        yield url
        stop(proc, timeout_s=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.errors = []
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
    yield pg
    context.close()


def wait_for_text(pg, text: str, timeout_ms: int = 60_000) -> None:
    pg.get_by_text(text, exact=False).first.wait_for(state="visible", timeout=timeout_ms)


def wait_for_charts(pg, count: int) -> None:
    pg.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {count}", timeout=60_000)


def wait_for_chart(pg, title: str) -> None:
    """Until a plotly chart whose title starts with `title` has been drawn."""
    pg.wait_for_function(
        "t => Array.from(document.querySelectorAll('.js-plotly-plot .gtitle')).some(e => e.textContent.startsWith(t))", arg=title, timeout=60_000
    )


def wait_until_idle(pg) -> None:
    """Until Streamlit's script run is over (no 'Running...' status widget)."""
    pg.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)


def assert_clean(pg) -> None:
    assert pg.locator('[data-testid="stException"]').count() == 0, pg.locator('[data-testid="stException"]').first.inner_text()
    assert not pg.errors, pg.errors


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """Where screenshots go (a temporary folder, never the checkout)."""
    folder = tmp_path_factory.mktemp("dashboard-screenshots")
    print(f"dashboard screenshots: {folder}")
    return folder


def screenshot(pg, folder: Path, name: str) -> Path:
    """A screenshot of the whole page: Streamlit scrolls inside its main block, so grow the viewport to fit."""
    height = pg.evaluate("() => (document.querySelector('[data-testid=\"stMain\"]') || document.body).scrollHeight")
    pg.set_viewport_size({"width": 1400, "height": min(max(int(height) + 40, 900), 12_000)})
    pg.wait_for_timeout(800)  # let plotly re-lay out at the new size
    path = folder / f"dashboard-{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def nav(pg, title: str) -> None:
    """Click a page in the sidebar and wait for its title."""
    pg.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
    pg.locator("h1", has_text=title).first.wait_for(state="visible")


def test_runs_page_lists_runs_selects_and_uploads(server, page, tmp_path, shots):
    page.goto(server)
    wait_for_text(page, "6 of 6 configurations")
    wait_until_idle(page)
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for(state="visible")
    assert_clean(page)
    screenshot(page, shots, "runs")

    page.set_input_files(
        '[data-testid="stFileUploader"] input[type="file"]',
        files=[{"name": "broken.json.gz", "mimeType": "application/gzip", "buffer": b"\x1f\x8b\x08\x00nope"}],
    )
    wait_for_text(page, "broken.json.gz: truncated gzip")
    assert_clean(page)
    good = tmp_path / "my-run.pt.trace.json.gz"
    good.write_bytes((SAMPLES / INT8).read_bytes())
    page.set_input_files('[data-testid="stFileUploader"] input[type="file"]', str(good))
    wait_for_text(page, "Analyzed my-run.pt.trace.json.gz")
    wait_for_text(page, "decode — sync-bound.")
    assert_clean(page)
    screenshot(page, shots, "runs-upload")


def test_runs_row_selection_opens_compare_with_the_first_selected_as_a(server, page):
    page.goto(server)
    wait_for_text(page, "6 of 6 configurations")
    wait_until_idle(page)
    grid = page.locator('[data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    # The grid draws on a canvas: click the row-selection column of the 3rd, then the 2nd data row
    # (newest first: the int8, then the fp16 trace).
    header_h, row_h = 35, 35
    page.mouse.click(box["x"] + 15, box["y"] + header_h + row_h * 2 + row_h / 2)
    page.get_by_role("button", name="Open in Run detail").and_(page.locator(":enabled")).wait_for()  # the app saw the first
    page.mouse.click(box["x"] + 15, box["y"] + header_h + row_h * 1 + row_h / 2)
    wait_for_text(page, "A (baseline): h200_llama3-8b_int8_b1 · B (candidate): h200_llama3-8b_fp16_b1")
    wait_until_idle(page)
    page.get_by_role("button", name="Compare the two").click()
    page.locator("h1", has_text="Compare").first.wait_for(state="visible")
    wait_for_text(page, "Verdict")
    wait_for_charts(page, 1)
    assert f"/compare?a={INT8}&b={FP16}" in page.url  # the first selected is A, and the pair is in the URL
    assert_clean(page)


def test_every_page_has_its_own_url(server, page):
    for path, title in (("runs", "Runs"), ("detail", "Run detail"), ("compare", "Compare"), ("recommend", "Recommend")):
        page.goto(f"{server}/{path}")
        page.locator("h1", has_text=title).first.wait_for(state="visible")
        wait_until_idle(page)
        assert "Page not found" not in page.inner_text("body")
        assert page.url.split("?")[0].rstrip("/").endswith(f"/{path}")
        assert_clean(page)
    page.goto(server)  # the root opens the Runs page
    page.locator("h1", has_text="Runs").first.wait_for(state="visible")


def test_compare_opens_on_a_repeat_and_puts_the_pair_in_the_url(server, page):
    page.goto(f"{server}/compare")
    wait_for_text(page, "No significant difference")
    wait_until_idle(page)
    assert f"a={BF16}" in page.url and f"b={BF16_REP}" in page.url
    assert_clean(page)


def test_detail_page_renders_verdict_syncs_and_charts(server, page, shots):
    page.goto(f"{server}/detail?trace={INT8}")
    wait_for_text(page, "decode — sync-bound.")
    wait_for_charts(page, 8)
    wait_until_idle(page)
    body = page.inner_text('[data-testid="stMain"]')
    assert "syncs / decode step" in body and "257" in body
    for title in (
        "Per-step time: wall vs GPU busy",
        "Kernel categories (decode)",
        "GPU idle time by cause (decode)",
        "Idle gaps between GPU activities (decode)",
        "Roofline (decode)",
        "DRAM bandwidth (decode)",
        "NVML: utilization, SM clock and power",
        "Batch sweep (un-profiled timings)",
    ):
        wait_for_chart(page, title)
    assert_clean(page)
    screenshot(page, shots, "detail")

    # Switch away and back through the sidebar, as a user does.
    page.set_viewport_size({"width": 1400, "height": 900})
    nav(page, "Runs")
    wait_until_idle(page)
    page.locator('[data-testid="stSidebarNav"] a', has_text="Run detail").first.click()
    wait_for_text(page, "decode — sync-bound.")
    wait_for_charts(page, 8)
    wait_until_idle(page)
    assert f"trace={INT8}" in page.url
    for title in ("Compare", "Recommend"):
        nav(page, title)
        wait_until_idle(page)
    assert_clean(page)


def test_compare_page_renders_setup_steps_and_verdict(server, page, shots):
    page.goto(f"{server}/compare?a={BF16}&b={INT8}")
    wait_for_text(page, "3.45x slower")
    wait_for_text(page, "Op-aligned diff (decode")
    wait_for_charts(page, 1)
    wait_until_idle(page)
    wait_for_chart(page, "Steady steps, A vs B")
    assert_clean(page)
    screenshot(page, shots, "compare")


def test_recommend_page_renders_ranked_advice_and_what_if(server, page, shots):
    page.goto(f"{server}/recommend?trace={INT8}")
    wait_for_text(page, "Ranked recommendations for NVIDIA A100 40GB SXM")
    wait_for_text(page, "1. Load the weights in")
    wait_for_text(page, "What if: memory and speed on another set-up")
    wait_for_charts(page, 1)
    wait_until_idle(page)
    wait_for_chart(page, "What-if: modelled vs measured decode speed")
    assert "fits in memory" in page.inner_text('[data-testid="stMain"]')
    assert_clean(page)
    screenshot(page, shots, "recommend")


def test_a_path_outside_the_traces_directory_is_refused(server, page):
    page.goto(f"{server}/detail?trace=../../pyproject.toml")
    wait_for_text(page, "outside the traces directory")
    assert page.locator(".js-plotly-plot").count() == 0
    assert_clean(page)
