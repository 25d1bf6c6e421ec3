"""Analyses cached beside the parse (`profkit.analyses.cache`): exact round trip on every bundled
trace, and every input that changes the result — the file, profkit's version and code, the GPU
judged against, the manifest a trace is told — makes another entry; anything else under the key is
a miss. Timing is measured in benchmarks/bench_cached.py, not here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import profkit
from conftest import ROOT, SAMPLES
from profkit.analyses import cache as acache
from profkit.analyses.summary import analyze_path, analyze_trace
from profkit.analyses.workload import describe_workload
from profkit.hardware.catalog import get_gpu, with_measured
from profkit.trace import cache, load_trace
from profkit.trace.source import TraceTooLarge

EXTERNAL = ROOT / "traces" / "external"
BUNDLED = sorted(SAMPLES.glob("*.json.gz")) + sorted(EXTERNAL.glob("*.json.gz"))
SMALL = EXTERNAL / "tl_h100_bert_small.json.gz"  # 71 KB, an H100 the catalog knows


@pytest.fixture
def computed(monkeypatch):
    """Counts the analyses actually computed (a hit computes none)."""
    calls = []

    def counting(trace, gpu=None):
        calls.append(gpu)
        return analyze_trace(trace, gpu)

    monkeypatch.setattr(acache, "analyze_trace", counting)
    return calls


@pytest.fixture
def small(tmp_path, monkeypatch):
    """A copy of a small trace with a cache of its own."""
    monkeypatch.setenv("PROFKIT_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / SMALL.name
    shutil.copyfile(SMALL, path)
    return path


def entries(kind: str = "analysis") -> list:
    folder = cache.cache_dir()
    return sorted(p.name for p in folder.iterdir() if p.name.endswith("." + kind)) if folder.is_dir() else []


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name.split(".")[0])
def test_a_cached_analysis_equals_a_fresh_one(path, computed):
    acache.analyze_file(path)  # computed and stored, unless an earlier test did it
    computed.clear()
    hit = acache.analyze_file(path)
    assert computed == []  # read from the entry, not recomputed
    trace = load_trace(path)
    fresh = analyze_trace(trace)
    assert hit.analysis == fresh
    assert hit.workload == describe_workload(trace, fresh)
    assert hit.trace_warnings == trace.warnings and hit.json_bytes == trace.json_bytes


def test_analyze_path_stores_once_and_reads_after(small, computed):
    first = analyze_path(small)
    assert analyze_path(small) == first and len(computed) == 1 and len(entries()) == 1


def test_no_cache_recomputes_and_stores_nothing(small, computed):
    analyze_path(small, use_cache=False)
    analyze_path(small, use_cache=False)
    assert len(computed) == 2 and not cache.cache_dir().exists()


def test_another_profkit_version_or_code_is_a_miss(small, computed, monkeypatch):
    analyze_path(small)
    monkeypatch.setattr(profkit, "__version__", "0.0.0-other")
    analyze_path(small)
    monkeypatch.setattr(acache, "_CODE_FINGERPRINT", ["edited"])
    analyze_path(small)
    assert len(computed) == 3 and len(entries()) == 3


def test_every_gpu_spec_is_its_own_entry(small, computed):
    h100 = get_gpu("h100-sxm")
    measured = with_measured(h100, bandwidth_gbps=2900.0)
    peaks = with_measured(h100, peak_tflops={"bf16": 700.0})
    specs = [None, get_gpu("a100-40gb-sxm"), h100, measured, peaks]
    first = [analyze_path(small, spec) for spec in specs]
    again = [analyze_path(small, spec) for spec in specs]
    assert again == first and computed == specs and len(entries()) == len(specs)  # each computed once, then read back
    assert [a.metadata.peak_bandwidth_gbps for a in first] == [h100.bandwidth_gbps, 1555.0, h100.bandwidth_gbps, 2900.0, h100.bandwidth_gbps]


def test_a_trace_told_its_manifest_is_its_own_entry(small, computed):
    told = {"config": {"precision": "bf16", "batch_size": 3}, "environment": {"torch": "2.9.0"}}
    plain = acache.analyze_file(small)
    with_manifest = acache.analyze_file(small, known_manifest=told)
    assert acache.analyze_file(small, known_manifest=told) == with_manifest and len(computed) == 2
    assert plain.analysis.metadata.manifest is None and with_manifest.analysis.metadata.manifest == told
    assert (with_manifest.workload.precision, with_manifest.workload.batch_size) == ("bf16", 3)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "other type", "other trace"])
def test_a_corrupt_or_foreign_entry_is_a_miss(small, computed, damage, tmp_path):
    first = analyze_path(small)
    [name] = entries()
    entry = cache.cache_dir() / name
    data = entry.read_bytes()
    if damage == "garbage":
        entry.write_bytes(os.urandom(len(data)))
    elif damage == "truncated":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        entry.write_bytes(b"")
    elif damage == "other type":  # a valid header, then msgpack of something that is not an analysis
        entry.write_bytes(data[: data.index(b"}}") + 2] + acache.msgspec.msgpack.encode({"analysis": [1, 2, 3]}))
    else:  # another trace's valid entry under this key: its header names the other file
        other = tmp_path / "other.json.gz"
        shutil.copyfile(EXTERNAL / "tl_mi300_bert_small.json.gz", other)
        analyze_path(other)
        os.replace(cache.cache_dir() / next(n for n in entries() if n.startswith("other")), entry)
    computed.clear()
    assert analyze_path(small) == first and len(computed) == 1  # recomputed, and stored again
    computed.clear()
    assert analyze_path(small) == first and computed == []


def test_a_rewritten_file_is_a_miss(small, computed):
    analyze_path(small)
    st = small.stat()
    os.utime(small, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    analyze_path(small)
    assert len(computed) == 2


def test_one_entry_serves_every_name_of_the_file(small, computed):
    link = small.parent / "renamed.json.gz"
    link.symlink_to(small)
    analyze_path(small)
    a = analyze_path(link)
    assert computed == [None]  # the same file: the same entry
    assert (a.metadata.path, a.metadata.trace_name) == (str(link), "renamed.json.gz")


def test_the_size_limit_holds_on_a_hit(small):
    done = acache.analyze_file(small)
    with pytest.raises(TraceTooLarge):
        acache.analyze_file(small, max_bytes=done.json_bytes - 1)


def test_an_unwritable_cache_is_a_silent_miss(small, computed, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("PROFKIT_CACHE_DIR", str(blocker / "cache"))
    assert analyze_path(small) == analyze_path(small) and len(computed) == 2


def test_a_failed_write_leaves_no_temporary(small, monkeypatch):
    real_open = open

    def disk_full(file, mode="r", *args, **kwargs):
        if "w" in mode and str(file).endswith(".tmp") and ".analysis." in str(file):
            fh = real_open(file, mode, *args, **kwargs)
            fh.write(b"partial")
            fh.close()
            raise OSError(28, "No space left on device")
        return real_open(file, mode, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr("builtins.open", disk_full)
        analyze_path(small)
    assert not [n for n in os.listdir(cache.cache_dir()) if n.endswith(".tmp") or ".analysis" in n]


@pytest.mark.slow
def test_cli_reads_the_entry_and_no_cache_recomputes(small):
    """The CLI shows what the entry holds (proof it was read); --no-cache computes afresh."""
    done = acache.analyze_file(small)
    done.analysis.warnings.append("MARKER from the cached entry")
    [name] = entries()
    key = acache._key(None, None)
    cache.write_entry(small, "analysis", key, acache._encode(done))
    assert entries() == [name]

    def cli(*args):
        r = subprocess.run(
            [sys.executable, "-m", "profkit", "analyze", str(small), "--markdown", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "200"},
            check=False,
        )
        assert r.returncode == 0, r.stderr
        return r.stdout

    assert "MARKER from the cached entry" in cli()
    assert "MARKER" not in cli("--no-cache")
    assert "MARKER" not in cli("--gpu", "h100-sxm")  # another GPU: another entry


@pytest.mark.slow
def test_a_restarted_dashboard_reads_its_analyses_from_disk(tmp_path, monkeypatch, computed):
    """The dashboard keys an analysis as `analyze_file` does, with the manifest the store tells the
    trace: a (doctored) entry on disk is what Run detail shows, and nothing is analyzed."""
    from streamlit.testing.v1 import AppTest

    from profkit.dashboard import data
    from profkit.store import paths

    name = "h100_llama3-8b_bf16_b1_static_compiled.pt.trace.json.gz"
    traces = tmp_path / "traces"
    traces.mkdir()
    shutil.copyfile(SAMPLES / name, traces / name)
    monkeypatch.setenv("PROFKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(paths.TRACES_DIR_ENV, str(traces))
    path, _, _, told = data._analysis_key(traces, name)
    done = acache.analyze_file(path, known_manifest=acache.orjson.loads(told))
    done.analysis.warnings.append("MARKER from the disk cache")
    cache.write_entry(traces / name, "analysis", acache._key(None, acache.orjson.loads(told)), acache._encode(done))
    computed.clear()

    at = AppTest.from_file(str(ROOT / "profkit" / "dashboard" / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("views/detail.py").run()
    assert not at.exception and "MARKER from the disk cache" in [w.value for w in at.warning]
    assert computed == []


def test_recommend_evidence_comes_from_the_cache(small, computed):
    from profkit.analyses.evidence import inputs_from
    from profkit.store import collect

    first = inputs_from(collect([small.parent]))
    again = inputs_from(collect([small.parent]))
    assert len(computed) == 1 and [t.analysis for t in again.traces] == [t.analysis for t in first.traces]
    assert len(inputs_from(collect([small.parent]), use_cache=False).traces) == 1 and len(computed) == 2


def test_the_cache_stays_under_its_cap_dropping_the_least_recently_used(tmp_path, monkeypatch):
    """With $PROFKIT_CACHE_MAX_BYTES, each write prunes the least recently used entries (a hit counts
    as a use) down to 80% of the cap, never the entry just written; files not named like profkit's
    entries in the same folder are neither counted nor touched."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("PROFKIT_CACHE_DIR", str(folder))
    names = ["tl_h100_bert_small", "tl_mi300_bert_small", "hta_mi250_minitoy_train", "tl_mi210_gpu_only"]
    copies = []
    for n in names:
        copies.append(tmp_path / f"{n}.json.gz")
        shutil.copyfile(EXTERNAL / f"{n}.json.gz", copies[-1])
    folder.mkdir()
    (folder / "notes.txt").write_bytes(b"x" * 10_000_000)  # a stranger's file: larger than the cap
    sizes = {}
    for p in copies[:2]:
        load_trace(p)
        sizes[p.name] = cache.cache_path(p).stat().st_size
    cap = sum(sizes.values()) + 1  # room for exactly the first two parses
    monkeypatch.setenv("PROFKIT_CACHE_MAX_BYTES", str(cap))
    os.utime(cache.cache_path(copies[0]), ns=(1, 1))  # the first is the oldest...
    load_trace(copies[0])  # ...until a hit uses it
    load_trace(copies[2])  # over the cap: the least recently used (the second) goes
    assert cache.cache_path(copies[0]).is_file() and cache.cache_path(copies[2]).is_file()
    assert not cache.cache_path(copies[1]).exists()
    assert (folder / "notes.txt").stat().st_size == 10_000_000
    profkit_bytes = sum(f.stat().st_size for f in folder.iterdir() if f.name != "notes.txt")
    assert profkit_bytes <= cap or len([f for f in folder.iterdir() if f.name != "notes.txt"]) == 1
    monkeypatch.setenv("PROFKIT_CACHE_MAX_BYTES", "1")  # smaller than any entry: only the newest stays
    load_trace(copies[3])
    assert [f.name for f in folder.iterdir() if f.name != "notes.txt"] == [cache.cache_path(copies[3]).name]
