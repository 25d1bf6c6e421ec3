"""Bad input, as a user (or a hostile one) brings it to `profkit analyze`, run as a subprocess.

Every case asserts the exit code; that stderr is one `profkit: error:` line naming the file and
the problem (plus `profkit: warning:` lines where warnings are the point), with no traceback; that
no figure is printed from input that was refused, and the figures printed otherwise are possible
ones; that the input file is unchanged and nothing outside the test's temporary folder changed.
The corpus comes from `tests/bad_inputs.py`, generated from a real trace; bombs use a small
`--max-trace-bytes` (the default cap is measured in benchmarks/bench_reading.py).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import stat
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

import bad_inputs
from conftest import ROOT, sample

pytestmark = pytest.mark.slow  # the CLI in a subprocess on each bad input (the corpus: dozens of runs)

ERRORS = [c for c in bad_inputs.cases() if c.error]
READABLE = [c for c in bad_inputs.cases() if not c.error]
FRACTIONS = {"idle_fraction", "share", "host_wait_ratio", "host_wait_share", "mbu", "mbu_wall", "mfu", "fraction_of_peak"}
NOT_COMPARED = {"path", "trace_name", "warnings"}  # differ by file name, or are the point of the case


# ---- running the CLI ------------------------------------------------------------------------------
@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stderr.strip().splitlines()

    @property
    def errors(self) -> list[str]:
        return [line for line in self.lines if not line.startswith("profkit: warning: ")]

    @property
    def warnings(self) -> list[str]:
        return [line for line in self.lines if line.startswith("profkit: warning: ")]

    def report(self) -> dict:
        return json.loads(self.stdout)


def run_cli(workdir: Path, *args, prefix: tuple = (), timeout: float = 120) -> Run:
    """`profkit ARGS` with its cache and home inside `workdir` (so nothing else can change)."""
    env = dict(os.environ, PROFKIT_CACHE_DIR=str(workdir / "cache"), HOME=str(workdir / "home"))
    env.pop("XDG_CACHE_HOME", None)
    argv = [*prefix, sys.executable, "-m", "profkit", *(os.fsencode(a) if isinstance(a, Path) else a for a in args)]
    r = subprocess.run(argv, capture_output=True, cwd=workdir, env=env, timeout=timeout, check=False)
    home = workdir / "home"
    assert not home.exists() or not any(home.iterdir()), "profkit wrote into $HOME although PROFKIT_CACHE_DIR was set"
    return Run(r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace"))


def assert_one_error_line(r: Run, *texts: str) -> None:
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert len(r.errors) == 1 and r.errors[0].startswith("profkit: error: "), r.stderr
    for text in texts:
        assert text in r.errors[0], r.errors[0]
    assert r.stdout == ""  # nothing printed as if it were a report


def assert_possible_figures(report: dict) -> None:
    """Every number finite and non-negative, fractions within [0, 1], busy within wall."""

    def walk(value, key=""):
        if isinstance(value, dict):
            for k, v in value.items():
                yield from walk(v, k)
        elif isinstance(value, list):
            for v in value:
                yield from walk(v, key)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield key, value

    for key, number in walk(report):
        assert math.isfinite(number) and number >= 0, (key, number)
        if key in FRACTIONS:
            assert number <= 1.0 + 1e-9, (key, number)
    for trace in report["traces"]:
        for step in trace["steps"]:
            assert step["gpu_busy_ms"] <= step["wall_ms"] + 1e-6, step


def comparable(report: dict) -> list:
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in NOT_COMPARED}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(report["traces"])


# ---- fixtures -------------------------------------------------------------------------------------
def _tree(root: Path) -> dict:
    """Every file under `root` (but git's and caches' own) with its size and mtime."""
    out = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in (".git", "__pycache__", ".pytest_cache")]
        for name in files:
            st = os.lstat(os.path.join(folder, name))
            out[os.path.join(folder, name)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(autouse=True)
def checkout_untouched():
    """Nothing in the checkout changes while a bad input is read. (The CLI runs with its own $HOME
    and cache folder inside the test's temp folder, and `run_cli` checks it wrote nothing to $HOME;
    the user's real ~/.cache is not watched: other processes on the machine may use it.)"""
    before = _tree(ROOT)
    yield
    assert _tree(ROOT) == before


@pytest.fixture(scope="module")
def base():
    return bad_inputs.Base(bad_inputs.base_document())


@pytest.fixture(scope="module")
def base_report(base, tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("base")
    r = run_cli(work, "analyze", bad_inputs.write(work / "base.json.gz", base.text), "--json", "-")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    report = r.report()
    assert_possible_figures(report)
    return report


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- the corpus, run all at once (4 at a time: the file stays at seconds) --------------------------
@dataclass
class CaseRun:
    path: Path
    run: Run
    input_unchanged: bool
    outside_changes: list


@pytest.fixture(scope="module")
def corpus(base, base_report, tmp_path_factory) -> dict[str, CaseRun]:
    """Every case of bad_inputs.cases() written to its own folder and analyzed with `--json -`."""
    root = tmp_path_factory.mktemp("corpus")
    before = _tree(ROOT)
    jobs = []
    for case in bad_inputs.cases():
        work = root / case.name.replace(".", "_")
        work.mkdir()
        path = case.write(work, base)
        jobs.append((case, work, path, digest(path)))
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda job: run_cli(job[1], "analyze", job[2], *job[0].args, "--json", "-"), jobs))
    after = _tree(ROOT)
    changes = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return {case.name: CaseRun(path, r, digest(path) == sha, changes) for (case, _, path, sha), r in zip(jobs, runs)}


def test_the_corpus_is_big_enough():
    assert len(ERRORS) >= 25 and len(READABLE) >= 25


@pytest.mark.parametrize("case", ERRORS, ids=lambda c: c.name)
def test_not_a_trace_is_one_line_naming_file_and_problem(case, corpus):
    done = corpus[case.name]
    assert_one_error_line(done.run, case.error, *([] if case.name.startswith("bad_cap") else [str(done.path)]))
    assert done.input_unchanged and done.outside_changes == []


@pytest.mark.parametrize("case", READABLE, ids=lambda c: c.name)
def test_bad_parts_are_dropped_with_a_warning(case, corpus, base_report):
    done = corpus[case.name]
    r, path = done.run, done.path
    assert r.returncode == 0 and r.errors == [] and "Traceback" not in r.stderr, r.stderr
    assert all(str(path) in line for line in r.warnings)
    for text in case.warnings:
        assert any(text in line for line in r.warnings), (text, r.warnings)
    if not case.warnings:
        assert r.stderr == ""
    report = r.report()
    assert_possible_figures(report)
    reading = [w.split(f"{path}: ", 1)[1] for w in r.warnings if "no GPU activity" not in w]
    assert set(reading) <= set(report["traces"][0]["warnings"])  # the report carries them too
    if case.same_as_base:
        assert comparable(report) == comparable(base_report)
    assert done.input_unchanged and done.outside_changes == []


def test_negative_duration_drops_that_kernel_only(corpus, base_report):
    report = corpus["negative_dur.json.gz"].run.report()
    kernels = [s["kernels"] for s in report["traces"][0]["steps"]]
    base_kernels = [s["kernels"] for s in base_report["traces"][0]["steps"]]
    assert sum(kernels) == sum(base_kernels) - 1 and len(kernels) == len(base_kernels)


def test_streams_above_int32_keep_their_ids(corpus, base_report):
    report = corpus["stream_above_int32.json.gz"].run.report()
    assert [s["stream"] for s in report["traces"][0]["idle_streams"]] == [s["stream"] + 2**33 for s in base_report["traces"][0]["idle_streams"]]
    assert report["traces"][0]["steps"] == base_report["traces"][0]["steps"]


def test_repaired_name_is_reported_with_a_replacement_character(corpus):
    phases = corpus["invalid_utf8_name.json.gz"].run.report()["traces"][0]["phases"]
    assert any(k["kernel"].endswith("\ufffd\ufffd") for p in phases.values() for k in p["top_kernels"][:1])


def test_reading_warnings_survive_the_cache(base, tmp_path):
    case = next(c for c in READABLE if c.name == "duplicate_profilerstep.json.gz")
    path = case.write(tmp_path, base)
    first = run_cli(tmp_path, "analyze", path, "--json", "-")
    assert list((tmp_path / "cache").glob("*.npz"))  # the second run reads the cache
    second = run_cli(tmp_path, "analyze", path, "--json", "-")
    assert first.warnings and second.warnings == first.warnings
    assert second.report() == first.report()


def test_cap_also_applies_to_a_cached_trace(base, tmp_path):
    path = bad_inputs.write(tmp_path / "t.json.gz", base.text)
    assert run_cli(tmp_path, "analyze", path).returncode == 0
    assert_one_error_line(run_cli(tmp_path, "analyze", path, "--max-trace-bytes", "1MiB"), str(path), "unpacks to over 1 MiB")


# ---- files and folders given as input -------------------------------------------------------------
def test_missing_path(tmp_path):
    assert_one_error_line(run_cli(tmp_path, "analyze", tmp_path / "nope.json.gz"), f"{tmp_path / 'nope.json.gz'}: no such file or directory")


def test_symlink_loop_as_input(tmp_path):
    (tmp_path / "a.json").symlink_to(tmp_path / "b.json")
    (tmp_path / "b.json").symlink_to(tmp_path / "a.json")
    assert_one_error_line(run_cli(tmp_path, "analyze", tmp_path / "a.json"), str(tmp_path / "a.json"), "symbolic link loop")


def test_broken_symlink_as_input(tmp_path):
    (tmp_path / "t.json").symlink_to("gone.json")
    assert_one_error_line(run_cli(tmp_path, "analyze", tmp_path / "t.json"), str(tmp_path / "t.json"), "broken symbolic link", "gone.json")


def test_fifo_and_device_as_input(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    assert_one_error_line(run_cli(tmp_path, "analyze", fifo), str(fifo), "not a regular file")
    assert_one_error_line(run_cli(tmp_path, "analyze", "/dev/null"), "/dev/null", "not a regular file")


def test_empty_directory(tmp_path):
    (tmp_path / "traces").mkdir()
    assert_one_error_line(run_cli(tmp_path, "analyze", tmp_path / "traces"), "holds no .json or .json.gz trace files")


def unprivileged(tmp_path: Path) -> tuple:
    """A command prefix under which file permissions hold (root: without CAP_DAC_OVERRIDE), checked
    on a chmod-000 file; the test is skipped, saying why, where no such prefix works."""
    if os.geteuid() != 0:
        return ()
    probe = tmp_path / "probe"
    probe.write_text("x")
    probe.chmod(0)
    prefix = ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all")
    try:
        r = subprocess.run([*prefix, sys.executable, "-c", f"open({str(probe)!r})"], capture_output=True, timeout=60, check=False)
    except FileNotFoundError:
        pytest.skip("running as root without setpriv: chmod 000 cannot deny reading here")
    if r.returncode == 0 or b"PermissionError" not in r.stderr:
        pytest.skip(f"running as root and cannot drop CAP_DAC_OVERRIDE ({r.stderr[-200:]!r}): chmod 000 does not deny reading here")
    return prefix


def test_unreadable_file(base, tmp_path):
    prefix = unprivileged(tmp_path)
    path = bad_inputs.write(tmp_path / "locked.pt.trace.json.gz", base.text)
    path.chmod(0)
    assert_one_error_line(run_cli(tmp_path, "analyze", path, prefix=prefix), str(path), "permission denied")


@pytest.fixture
def folder(base, tmp_path) -> Path:
    """A run folder with two good traces (the same real one twice)."""
    d = tmp_path / "run"
    d.mkdir()
    for name in ("a.pt.trace.json.gz", "c.pt.trace.json.gz"):
        bad_inputs.write(d / name, base.text)
    return d


def test_directory_skips_a_bad_file_and_analyzes_the_rest(folder, tmp_path):
    bad = folder / "b.pt.trace.json.gz"
    bad.write_bytes(gzip.compress(b'{"traceEvents": [')[:30])
    r = run_cli(tmp_path, "analyze", folder, "--json", "-")
    assert r.returncode == 0 and r.errors == [], r.stderr
    assert len(r.warnings) == 1 and str(bad) in r.warnings[0] and "truncated gzip" in r.warnings[0] and "skipped" in r.warnings[0]
    assert [t["path"] for t in r.report()["traces"]] == [str(folder / "a.pt.trace.json.gz"), str(folder / "c.pt.trace.json.gz")]


def test_directory_strict_makes_a_bad_file_fatal(folder, tmp_path):
    bad = folder / "b.pt.trace.json.gz"
    bad.write_bytes(b"not a trace")
    assert_one_error_line(run_cli(tmp_path, "analyze", folder, "--strict"), str(bad), "not JSON")


def test_directory_of_only_bad_files_is_exit_2(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    (d / "x.pt.trace.json").write_bytes(b"")
    (d / "y.pt.trace.json").write_bytes(b"[]")
    r = run_cli(tmp_path, "analyze", d)
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert len(r.warnings) == 2 and "file is empty" in r.warnings[0] and "not an object" in r.warnings[1]
    assert len(r.errors) == 1 and r.errors[0] == f"profkit: error: {d}: no trace could be read or analyzed (see the warnings above)"


def test_directory_with_a_symlink_loop_and_an_unreadable_file(folder, base, tmp_path):
    prefix = unprivileged(tmp_path)
    (folder / "loop.pt.trace.json").symlink_to(folder / "loop.pt.trace.json")
    locked = bad_inputs.write(folder / "locked.pt.trace.json.gz", base.text)
    locked.chmod(0)
    r = run_cli(tmp_path, "analyze", folder, "--json", "-", prefix=prefix)
    assert r.returncode == 0 and r.errors == [], r.stderr
    assert any(str(locked) in w and "permission denied" in w for w in r.warnings)
    assert any("loop.pt.trace.json" in w and "symlink loop" in w for w in r.warnings)  # the walker names it relative to the folder
    assert len(r.report()["traces"]) == 2


def test_non_utf8_file_names(base, tmp_path):
    folder = tmp_path / os.fsdecode(b"run\xff")
    folder.mkdir()
    trace = bad_inputs.write(folder / os.fsdecode(b"tr\xfeace.pt.trace.json.gz"), base.text)
    out = tmp_path / os.fsdecode(b"report\xff.json")
    r = run_cli(tmp_path, "analyze", folder, "--json", out)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    report = json.loads(out.read_bytes())
    assert report["traces"][0]["path"] == str(trace)  # the undecodable bytes come back as JSON escapes
    assert run_cli(tmp_path, "analyze", trace).returncode == 0  # and from the cache


# ---- --json FILE: written through, atomically, or refused in one line -----------------------------
def test_json_to_dev_null_keeps_the_device(base, tmp_path):
    path = bad_inputs.write(tmp_path / "t.json.gz", base.text)
    r = run_cli(tmp_path, "analyze", path, "--json", "/dev/null")
    assert r.returncode == 0, r.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_json_to_a_fifo_delivers_the_report(base, base_report, tmp_path):
    path = bad_inputs.write(tmp_path / "t.json.gz", base.text)
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    r = run_cli(tmp_path, "analyze", path, "--json", fifo)
    if reader.is_alive():  # profkit never opened the FIFO: release the reader
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    reader.join(60)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert comparable(json.loads(received[0])) == comparable(base_report)


def test_json_through_a_symlink_writes_the_target(base, tmp_path):
    path = bad_inputs.write(tmp_path / "t.json.gz", base.text)
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "report.json"
    target.write_text("old")
    target.chmod(0o600)
    link = tmp_path / "latest.json"
    link.symlink_to(Path("out") / "report.json")
    r = run_cli(tmp_path, "analyze", path, "--json", link)
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == os.path.join("out", "report.json")
    assert json.loads(target.read_text())["schema"] == "profkit.analyze/1"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # the replaced file keeps its permissions
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]  # no temporary file left


@pytest.mark.parametrize(
    "where, problem", [("missing/report.json", "No such file or directory"), ("out", "Is a directory"), ("loop.json", "Too many levels of symbolic links")]
)
def test_json_to_an_impossible_place_is_one_line(where, problem, base, tmp_path):
    path = bad_inputs.write(tmp_path / "t.json.gz", base.text)
    (tmp_path / "out").mkdir()
    (tmp_path / "loop.json").symlink_to(tmp_path / "loop.json")
    assert_one_error_line(run_cli(tmp_path, "analyze", path, "--json", tmp_path / where), f"cannot write --json {tmp_path / where}", problem)


def test_json_into_an_unwritable_folder_leaves_nothing(base, tmp_path):
    prefix = unprivileged(tmp_path)
    path = bad_inputs.write(tmp_path / "t.json.gz", base.text)
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "report.json").write_text("old")
    locked.chmod(0o555)
    r = run_cli(tmp_path, "analyze", path, "--json", locked / "report.json", prefix=prefix)
    assert_one_error_line(r, "cannot write --json", "Permission denied")
    locked.chmod(0o755)
    assert [p.name for p in locked.iterdir()] == ["report.json"] and (locked / "report.json").read_text() == "old"


# ---- Ctrl-C -------------------------------------------------------------------------------------------
def test_ctrl_c_says_interrupted(tmp_path):
    """A real SIGINT while a command runs (a throw-away command that interrupts itself)."""
    script = textwrap.dedent("""
        import os, signal, sys, time
        from profkit.cli import app, main

        @app.command("wait-for-ctrl-c")
        def wait():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(30)

        sys.argv = ["profkit", "wait-for-ctrl-c"]
        main()
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False)
    assert r.returncode == 130 and r.stderr.strip() == "profkit: interrupted", r.stderr


# ---- degraded but honest reports --------------------------------------------------------------------
def _events_of(name):
    with gzip.open(sample(name)) as f:
        return json.load(f)


def _write(doc, path):
    with gzip.open(path, "wt") as f:
        json.dump(doc, f)
    return path


@pytest.fixture(scope="module")
def cpu_only(tmp_path_factory):
    """A real trace with every GPU-side event removed: what a CPU-only run records."""
    doc = _events_of("h200_llama3-8b_bf16_b1")
    keep = {"cpu_op", "user_annotation"}
    doc["traceEvents"] = [e for e in doc["traceEvents"] if e.get("cat") in keep]
    doc.pop("deviceProperties", None)
    return _write(doc, tmp_path_factory.mktemp("cpu") / "cpu_only.json.gz")


def test_cpu_only_trace_gives_a_degraded_report(cpu_only, tmp_path):
    r = run_cli(tmp_path, "analyze", cpu_only, "--json", "-")
    assert r.returncode == 0, r.stderr
    t = json.loads(r.stdout)["traces"][0]
    assert t["has_gpu_activity"] is False
    assert any("no GPU activity" in w for w in t["warnings"])
    assert t["phases"]["decode"]["gpu_busy_ms"] == 0 and t["phases"]["decode"]["bound"] is None
    assert t["cpu_ops"] and t["cpu_ops"][0]["total_ms"] > 0  # the CPU op summary is still there
    assert "no GPU activity" in r.stderr and "Traceback" not in r.stderr


def test_cpu_only_terminal_report(cpu_only, tmp_path):
    r = run_cli(tmp_path, "analyze", cpu_only)
    assert r.returncode == 0 and "no GPU activity" in r.stdout and "Top-level CPU ops" in r.stdout


def test_hta_on_cpu_only_trace_is_one_line(cpu_only, tmp_path):
    r = run_cli(tmp_path, "analyze", cpu_only, "--hta")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("profkit: error:")


def test_trace_without_profilerstep_falls_back_to_annotations(tmp_path):
    doc = _events_of("h200_llama3-8b_int8_b1")
    doc["traceEvents"] = [e for e in doc["traceEvents"] if not str(e.get("name", "")).startswith("ProfilerStep")]
    r = run_cli(tmp_path, "analyze", _write(doc, tmp_path / "nostep.json.gz"), "--json", "-")
    assert r.returncode == 0, r.stderr
    t = json.loads(r.stdout)["traces"][0]
    assert t["step_source"]["steps"] == "annotation"
    assert any("no ProfilerStep" in w for w in t["warnings"])
    d = t["phases"]["decode"]
    # The end-of-step cudaDeviceSynchronize lies outside the `decode` range: 256 syncs, not 257.
    assert d["steps"] == 5 and d["sync_calls"] == 256 and d["d2h_copies"] == 256 and d["bound"] == "sync"


def test_trace_without_any_annotation_is_one_window(tmp_path):
    doc = _events_of("h200_llama3-8b_fp16_b1")
    doc["traceEvents"] = [e for e in doc["traceEvents"] if e.get("cat") != "user_annotation"]
    r = run_cli(tmp_path, "analyze", _write(doc, tmp_path / "noann.json.gz"), "--json", "-")
    assert r.returncode == 0, r.stderr
    t = json.loads(r.stdout)["traces"][0]
    assert t["step_source"]["steps"] == "window" and len(t["steps"]) == 1
    assert any("whole trace" in w for w in t["warnings"])
    assert t["steps"][0]["kernels"] == 1399 + 5 * 1463
