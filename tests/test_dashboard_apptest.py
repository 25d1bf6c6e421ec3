"""The dashboard's pages under `streamlit.testing.v1.AppTest`, on the bundled samples.

Every page runs without an exception and shows the figures a reader needs (the int8 sample's
sync-bound verdict and its 257 syncs per token, the bf16 b16 outlier step, the A100 what-if, ...);
paths from the UI never leave the traces directory; uploads are validated. (How fast pages render
is measured in benchmarks/, not asserted here.)
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from profkit.dashboard import uploads
from profkit.dashboard.app import traces_dir_from
from profkit.errors import ProfkitError
from profkit.store import paths

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "traces" / "samples"
APP = REPO / "profkit" / "dashboard" / "app.py"
SHIM = REPO / "dashboards" / "app.py"
INT8 = "h200_llama3-8b_int8_b1.pt.trace.json.gz"
BF16 = "h200_llama3-8b_bf16_b1.pt.trace.json.gz"
BF16_REP = "h200_llama3-8b_bf16_b1_rep1.pt.trace.json.gz"
BF16_B16 = "h200_llama3-8b_bf16_b16.pt.trace.json.gz"
COMPILED = "h100_llama3-8b_bf16_b1_static_compiled.pt.trace.json.gz"


@pytest.fixture(scope="module", autouse=True)
def dashboard_env(tmp_path_factory):
    """Point the app at the samples and the parsed-trace cache at a per-session folder, warmed once."""
    cache = tmp_path_factory.getbasetemp() / "profkit-dashboard-cache"
    saved = {k: os.environ.get(k) for k in ("PROFKIT_CACHE_DIR", paths.TRACES_DIR_ENV)}
    os.environ["PROFKIT_CACHE_DIR"] = str(cache)
    os.environ[paths.TRACES_DIR_ENV] = str(SAMPLES)
    from profkit.trace import load_trace

    for trace in sorted(SAMPLES.glob("*.json.gz")):
        load_trace(trace)
    yield cache
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def open_page(page: str | None = None, **session) -> AppTest:
    """Run the app (Runs page), set session state, then switch to `page` ("detail", ...) and run it."""
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    for key, value in session.items():
        at.session_state[key] = value
    if page is not None:
        at.switch_page(f"views/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("title", "subheader", "markdown", "caption", "info", "warning", "error", "success") for e in getattr(at, kind)]
    parts += [f"{m.label}={m.value}" for m in at.metric]
    return "\n".join(str(p) for p in parts)


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def table_with(at: AppTest, column: str):
    """The first dataframe on the page that has `column`."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def chart_names(at: AppTest) -> list[str]:
    return [json.loads(el.proto.spec)["layout"].get("meta") for el in at.get("plotly_chart")]


# ---- Runs ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_runs_lists_every_sample_with_versions_and_timings():
    at = open_page()
    assert at.title[0].value == "Runs"
    table = at.dataframe[0].value
    assert len(table) == 6
    assert set(table["GPU"]) == {"NVIDIA H200", "NVIDIA H100 80GB HBM3"}
    assert set(table["driver"]) == {"580.159.04"} and set(table["bitsandbytes"]) == {"0.50.2"}
    int8 = table[table["run"] == "h200_llama3-8b_int8_b1"].iloc[0]
    assert (int8["precision"], int8["batch"], int8["mode"]) == ("int8", 1, "eager")
    assert int8["decode tok/s"] == pytest.approx(7.72, abs=0.01)  # the un-profiled sweep's int8 batch 1
    assert int8["TPOT ms"] == pytest.approx(118.4, abs=0.1)
    compiled = table[table["mode"] == "compiled"].iloc[0]
    assert compiled["decode tok/s"] == pytest.approx(96.6, abs=0.1)
    assert "trace" not in table.columns  # the refs stay internal


@pytest.mark.slow
def test_runs_filters_narrow_the_table():
    at = open_page()
    at.multiselect(key="runs.filter.precision").set_value(["bf16"])
    at.multiselect(key="runs.filter.batch").set_value(["1"])
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    assert sorted(table["run"]) == ["h100_llama3-8b_bf16_b1_static_compiled", "h200_llama3-8b_bf16_b1", "h200_llama3-8b_bf16_b1_rep1"]
    at.multiselect(key="runs.filter.GPU").set_value(["NVIDIA H100 80GB HBM3"])
    at.run()
    assert list(at.dataframe[0].value["run"]) == ["h100_llama3-8b_bf16_b1_static_compiled"]


@pytest.mark.slow
def test_runs_selecting_one_opens_it_and_two_compare_them():
    at = open_page()
    runs = list(at.dataframe[0].value["run"])
    at.session_state["runs.table"] = {"selection": {"rows": [runs.index("h200_llama3-8b_int8_b1")], "columns": [], "cells": []}}
    at.run()
    open_button, compare_button = button(at, "Open in Run detail"), button(at, "Compare the two")
    assert not open_button.disabled and compare_button.disabled
    open_button.click().run()
    assert not at.exception
    assert at.title[0].value == "Run detail" and at.session_state["profkit.selected"] == INT8

    at = open_page()
    rows = [runs.index("h200_llama3-8b_bf16_b1"), runs.index("h200_llama3-8b_int8_b1")]
    at.session_state["runs.table"] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    at.run()
    button(at, "Compare the two").click().run()
    assert not at.exception
    assert at.title[0].value == "Compare"
    assert set(at.session_state["profkit.compare"]) == {BF16, INT8}


@pytest.mark.slow
def test_runs_the_first_selected_row_is_a_whatever_the_table_order():
    at = open_page()
    runs = list(at.dataframe[0].value["run"])
    int8, bf16 = runs.index("h200_llama3-8b_int8_b1"), runs.index("h200_llama3-8b_bf16_b1")
    assert bf16 > int8  # bf16 is lower in the table, and selected first
    at.session_state["runs.table"] = {"selection": {"rows": [bf16], "columns": [], "cells": []}}
    at.run()
    at.session_state["runs.table"] = {"selection": {"rows": [int8, bf16], "columns": [], "cells": []}}
    at.run()
    assert "A (baseline): h200_llama3-8b_bf16_b1 · B (candidate): h200_llama3-8b_int8_b1" in texts(at)
    button(at, "Compare the two").click().run()
    assert not at.exception and at.session_state["profkit.compare"] == (BF16, INT8)
    assert (at.selectbox(key="compare.a").value, at.selectbox(key="compare.b").value) == (BF16, INT8)
    assert at.query_params["a"] == BF16 and at.query_params["b"] == INT8


@pytest.mark.slow
def test_compare_opens_on_a_repeat_and_puts_the_pair_in_the_url():
    at = open_page("compare")
    assert (at.selectbox(key="compare.a").value, at.selectbox(key="compare.b").value) == (BF16, BF16_REP)
    assert at.info[0].value.startswith("No significant difference")
    assert at.query_params["a"] == BF16 and at.query_params["b"] == BF16_REP


@pytest.mark.slow
def test_compare_follows_a_link_to_another_pair():
    at = open_page("compare")
    at.query_params["a"], at.query_params["b"] = INT8, BF16
    at.run()
    assert not at.exception
    assert (at.selectbox(key="compare.a").value, at.selectbox(key="compare.b").value) == (INT8, BF16)


@pytest.mark.slow
def test_compare_keeps_set_up_rows_known_on_one_side_only(tmp_path):
    root = tmp_path / "traces"
    (root / "elsewhere").mkdir(parents=True)
    shutil.copyfile(SAMPLES / INT8, root / INT8)
    shutil.copyfile(SAMPLES / "h200_run_results.json", root / "h200_run_results.json")  # versions for the int8 trace only
    shutil.copyfile(SAMPLES / BF16, root / "elsewhere" / BF16)
    os.environ[paths.TRACES_DIR_ENV] = str(root)
    try:
        at = open_page("compare", **{"profkit.compare": (f"elsewhere/{BF16}", INT8)})
        everything = table_with(at, "field").set_index("field")
        at.toggle(key="compare.only_diffs").set_value(True).run()
    finally:
        os.environ[paths.TRACES_DIR_ENV] = str(SAMPLES)
    assert not at.exception
    assert everything.loc["GPU memory"].iloc[1] == "139.8 GiB"
    setup = table_with(at, "field").set_index("field")
    driver = setup.loc["NVIDIA driver"]
    assert (driver.iloc[1], driver.iloc[2], driver.iloc[3]) == ("unknown", "580.159.04", "unknown on one side")
    assert "torch" in setup.index and "GPU memory" not in setup.index  # known on both sides and equal: hidden


@pytest.mark.slow
def test_upload_bad_files_get_a_message_and_a_good_one_is_analyzed():
    at = open_page()
    uploader = at.file_uploader(key="runs.upload")
    uploader.upload("broken.json.gz", b"\x1f\x8b\x08\x00not really gzip").run()
    assert not at.exception and "broken.json.gz" in at.error[0].value and "gzip" in at.error[0].value
    at.file_uploader(key="runs.upload").upload("notes.json", b'{"hello": 1}').run()
    assert not at.exception and "traceEvents" in at.error[0].value
    at.file_uploader(key="runs.upload").upload("cut.json", b'{"traceEvents": [').run()
    assert not at.exception and "invalid JSON" in at.error[0].value

    at.file_uploader(key="runs.upload").upload("mine.pt.trace.json.gz", (SAMPLES / INT8).read_bytes()).run()
    assert not at.exception and not at.error
    assert "Analyzed mine.pt.trace.json.gz" in at.success[0].value
    assert "decode — sync-bound." in texts(at)
    button(at, "Open the upload in Run detail").click().run()
    assert not at.exception
    assert at.title[0].value == "Run detail" and "syncs / decode step=257" in texts(at)


# ---- Run detail --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_detail_int8_shows_sync_bound_verdict_syncs_per_token_and_charts():
    at = open_page("detail", **{"profkit.selected": INT8})
    body = texts(at)
    assert "decode — sync-bound." in body
    assert "syncs / decode step=257" in body and "D2H copies / step=256" in body and "GPU idle=93%" in body
    assert "precision int8, batch 1, prompt 128, mode eager" in body
    assert "NVIDIA driver 580.159.04" in body
    assert chart_names(at) == [
        "step_timeline",
        "kernel_categories",
        "idle_split",
        "gap_histogram",
        "roofline",
        "bandwidth_bars",
        "nvml_timeline",
        "batch_sweep",
    ]
    issuers = table_with(at, "op path -> call")  # who synchronizes
    assert "bitsandbytes::int8_vectorwise_quant" in issuers["op path -> call"].iloc[0]


@pytest.mark.slow
def test_detail_flags_the_bf16_b16_outlier_step():
    at = open_page("detail", **{"profkit.selected": BF16_B16})
    assert any(c.value.startswith("Outlier ProfilerStep#2") for c in at.caption)
    assert "decode — host-bound." in texts(at)


@pytest.mark.slow
def test_detail_compiled_h100_is_memory_bound_without_nvml():
    at = open_page("detail", **{"profkit.selected": COMPILED})
    body = texts(at)
    assert "decode — memory-bound." in body and "NVIDIA H100 80GB HBM3" in body
    assert "nvml_timeline" not in chart_names(at) and "batch_sweep" not in chart_names(at)


@pytest.mark.slow
def test_detail_phase_switch_reruns_cleanly():
    at = open_page("detail", **{"profkit.selected": INT8})
    at.radio(key="detail.phase").set_value("prefill").run()
    assert not at.exception
    assert "Kernel categories (prefill)" in json.dumps([json.loads(el.proto.spec)["layout"]["title"] for el in at.get("plotly_chart")])


# ---- Compare -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_compare_bf16_with_int8_shows_setup_diff_steps_and_verdict():
    at = open_page("compare", **{"profkit.compare": (BF16, INT8)})
    verdict = at.info[0].value
    assert "3.45x slower" in verdict and "int8" in verdict
    setup = table_with(at, "field")
    precision = setup[setup["field"] == "precision"].iloc[0]
    assert (precision.iloc[2], precision.iloc[3], precision.iloc[4]) == ("bf16", "int8", "differs")
    steps = table_with(at, "significant")
    decode_wall = steps[(steps["phase"] == "decode") & (steps["metric"] == "wall")].iloc[0]
    assert decode_wall["significant"] == "yes"
    assert "compare_steps" in chart_names(at)
    ops = table_with(at, "operation")  # op-aligned diff (decode)
    assert ops["operation"].str.startswith("linear").any()


@pytest.mark.slow
def test_compare_with_a_repeat_is_within_noise():
    at = open_page("compare", **{"profkit.compare": (BF16, BF16_REP)})
    assert at.info[0].value.startswith("No significant difference")
    at = open_page("compare", **{"profkit.compare": (BF16, INT8)})
    at.multiselect(key="compare.repeats").set_value([BF16_REP]).run()
    assert not at.exception
    steps = table_with(at, "why")
    decode_wall = steps[(steps["phase"] == "decode") & (steps["metric"] == "wall")].iloc[0]
    assert "run-to-run" in decode_wall["why"]


# ---- Recommend ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_recommend_ranks_changes_and_the_what_if_uses_estimate():
    at = open_page("recommend", **{"profkit.selected": INT8})
    body = texts(at)
    assert "Ranked recommendations for NVIDIA A100 40GB SXM at 8,192 tokens" in body
    assert at.markdown[0].value.startswith("#### 1. Load the weights in") and "instead of bitsandbytes int8" in at.markdown[0].value
    assert "**How**" in body and any(e.label.startswith("Evidence (") for e in at.expander)
    assert "bitsandbytes::int8_vectorwise_quant" in body  # the int8 trace's sync issuer, cited as evidence
    # what-if starts from the selected trace: int8, batch 1, on the A100 40GB
    assert at.selectbox(key="whatif.gpu").value == "a100-40gb-sxm" and at.selectbox(key="whatif.precision").value == "int8"
    assert "fits in memory=yes" in body
    at.selectbox(key="whatif.precision").set_value("bf16")
    at.number_input(key="whatif.batch").set_value(16)
    at.run()
    assert not at.exception
    body = texts(at)
    assert "max batch at 8,192 tokens=23" in body
    bars = [json.loads(el.proto.spec) for el in at.get("plotly_chart")][-1]
    labels = bars["data"][0]["y"]
    assert labels[0].startswith("modelled: roofline on NVIDIA A100 40GB SXM")
    assert any(label.startswith("measured: bf16 b16 eager on NVIDIA H200") for label in labels)
    at.selectbox(key="whatif.gpu").set_value("l4").run()  # 16 GB of bf16 weights do not fit in an L4
    assert not at.exception and "fits in memory=NO" in texts(at)


# ---- safety ------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("ref", ["../../pyproject.toml", "/etc/passwd", "../samples/../../README.md"])
def test_paths_from_the_ui_cannot_leave_the_traces_directory(ref):
    at = open_page("detail", **{"profkit.selected": ref})
    assert at.error and "outside the traces directory" in at.error[0].value
    assert not at.get("plotly_chart")


@pytest.mark.slow
def test_other_pages_survive_a_bad_selection():
    at = open_page("recommend", **{"profkit.selected": "../../pyproject.toml"})
    assert at.selectbox(key="whatif.precision").value == "bf16"  # no workload to default from
    at = open_page("compare", **{"profkit.compare": ("../../pyproject.toml", INT8)})
    assert "outside the traces directory" in at.error[0].value


@pytest.mark.slow
def test_deep_link_query_params_are_validated_too():
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["trace"] = "../../pyproject.toml"
    at.run()
    at.switch_page("views/detail.py").run()
    assert not at.exception and "outside the traces directory" in at.error[0].value


def test_inside_refuses_escapes_and_symlinks_out(tmp_path):
    root = tmp_path / "traces"
    root.mkdir()
    (root / "run").mkdir()
    (root / "run" / "t.json").write_text("{}")
    (tmp_path / "secret.json").write_text("{}")
    (root / "link.json").symlink_to(tmp_path / "secret.json")
    assert paths.inside(root, "run/t.json") == (root / "run" / "t.json").resolve()
    for bad in ("../secret.json", "/etc/passwd", "run/../../secret.json", "link.json", "", "a\x00b"):
        with pytest.raises(ProfkitError):
            paths.inside(root, bad)


@pytest.mark.slow
def test_symlinked_traces_outside_the_root_are_not_listed(tmp_path):
    root = tmp_path / "traces"
    root.mkdir()
    (root / "mine.pt.trace.json.gz").symlink_to(SAMPLES / INT8)
    os.environ[paths.TRACES_DIR_ENV] = str(root)
    try:
        at = open_page()
    finally:
        os.environ[paths.TRACES_DIR_ENV] = str(SAMPLES)
    assert at.warning and "outside" in at.warning[0].value
    assert at.info and "No runs or traces" in at.info[0].value


@pytest.mark.slow
def test_broken_files_in_the_traces_directory_get_a_message(tmp_path):
    root = tmp_path / "traces"
    root.mkdir()
    (root / "good.pt.trace.json.gz").write_bytes((SAMPLES / BF16).read_bytes())
    (root / "cut.pt.trace.json.gz").write_bytes((SAMPLES / BF16).read_bytes()[:5000])
    os.environ[paths.TRACES_DIR_ENV] = str(root)
    try:
        at = open_page()
        assert any("cut.pt.trace.json.gz" in w.value for w in at.warning)
        assert "good" in set(at.dataframe[0].value["run"])
        at = open_page("detail", **{"profkit.selected": "cut.pt.trace.json.gz"})
        assert at.error and "cut.pt.trace.json.gz" in at.error[0].value
    finally:
        os.environ[paths.TRACES_DIR_ENV] = str(SAMPLES)


def test_traces_dir_precedence(tmp_path):
    other = tmp_path / "t"
    other.mkdir()
    assert traces_dir_from(["--traces-dir", str(other)], {paths.TRACES_DIR_ENV: str(SAMPLES)}) == other.resolve()
    assert traces_dir_from([], {paths.TRACES_DIR_ENV: str(other)}) == other.resolve()
    assert traces_dir_from(["-x", "--tb=short"], {}) == SAMPLES  # pytest's own argv is ignored
    with pytest.raises(ProfkitError, match="not a directory"):
        traces_dir_from(["--traces-dir", str(tmp_path / "missing")], {})


def test_uploads_are_size_limited_and_gzip_bombs_refused(monkeypatch):
    monkeypatch.setattr(uploads, "UPLOAD_LIMIT_BYTES", 1000)
    with pytest.raises(ProfkitError, match="over the 0 MiB upload limit"):
        uploads.check_upload("big.json", b" " * 1001)
    monkeypatch.setattr(uploads, "UPLOAD_LIMIT_BYTES", 64 * 1024**2)
    monkeypatch.setattr(uploads, "MAX_UNPACKED_BYTES", 10_000)
    with pytest.raises(ProfkitError, match="unpacks to over"):
        uploads.check_upload("bomb.json.gz", gzip.compress(b" " * 100_000))
    with pytest.raises(ProfkitError, match="not a trace file"):
        uploads.check_upload("trace.txt", b"{}")
    with pytest.raises(ProfkitError, match="empty"):
        uploads.check_upload("empty.json", b"")
    with pytest.raises(ProfkitError, match="traceEvents"):  # odd names are never used as paths
        uploads.analyze_upload("../../a\x00b.json", b'{"x": 1}')


# ---- entry points ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_streamlit_run_shim_opens_the_same_app():
    at = AppTest.from_file(str(SHIM), default_timeout=120)
    at.run()
    assert not at.exception and at.title[0].value == "Runs"


@pytest.mark.slow
def test_cli_launches_streamlit_on_the_packaged_app():
    from profkit.cli.dashboard import streamlit_command

    cmd = streamlit_command(SAMPLES, port=8765, headless=True)
    app_path = Path(cmd[cmd.index("run") + 1])
    assert app_path.is_file() and app_path == APP
    assert cmd[-2:] == ["--traces-dir", str(SAMPLES)] and "8765" in cmd
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    done = subprocess.run([sys.executable, "-m", "profkit", "dashboard", str(REPO / "no-such-dir")], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "not a directory" in done.stderr


@pytest.mark.slow
def test_compare_on_foreign_traces_opens_on_a_comparable_pair(monkeypatch):
    """traces/external: the default pair is the same workload on two set-ups (Qwen1.5-0.5B batch 16 on
    H100 and on MI300X), not two traces that record no workload (a CUPTI counter capture and a
    training job), which cannot be compared."""
    monkeypatch.setenv(paths.TRACES_DIR_ENV, str(REPO / "traces" / "external"))
    at = open_page("compare")
    pair = {at.selectbox(key="compare.a").value, at.selectbox(key="compare.b").value}
    assert pair == {"tl_h100_qwen1.5_0.5b.json.gz", "tl_mi300_qwen1.5_0.5b.json.gz"}
    assert not at.error and "Set-up differs" in texts(at)
