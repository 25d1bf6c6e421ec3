"""Reading and writing files, in-process: the one atomic writer, the capped decompression, the
streamed JSON split (any chunking reads the same trace), and a cache that only trusts its own entries."""

from __future__ import annotations

import errno
import gzip
import os
import stat
import threading

import numpy as np
import pytest

import bad_inputs
from profkit import fileio
from profkit.errors import ProfkitError, TraceError
from profkit.trace import cache, load_trace, source
from profkit.trace.checks import first_occurrences
from profkit.trace.loader import parse_trace
from profkit.trace.source import TraceTooLarge, parse_size, unpacked_size

TABLES = ("gpu", "runtime", "ops", "annotations")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The corpus' real base trace as a file, and its Trace read with the default chunking."""
    b = bad_inputs.Base(bad_inputs.base_document())
    path = bad_inputs.write(tmp_path_factory.mktemp("base") / "base.json.gz", b.text)
    return b, path, parse_trace(path)


def same_trace(a, b) -> bool:
    if (a.strings, a.metadata, a.t0_ns, a.event_count, a.warnings) != (b.strings, b.metadata, b.t0_ns, b.event_count, b.warnings):
        return False
    return all(
        getattr(a, t).columns.keys() == getattr(b, t).columns.keys()
        and all(np.array_equal(v, getattr(b, t).columns[c]) and v.dtype == getattr(b, t).columns[c].dtype for c, v in getattr(a, t).columns.items())
        for t in TABLES
    )


# ---- profkit.fileio: the one writer of user-named files -------------------------------------------
def test_regular_file_is_replaced_atomically_keeping_its_mode(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    target.chmod(0o640)
    fileio.write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["report.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("old")

    class DiskFull:
        def __init__(self, path, mode):
            self.fh = open(path, mode)  # noqa: SIM115 -- stands in for open(); closed by __exit__

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            self.fh.write(data[:10])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fileio, "open", DiskFull, raising=False)
    with pytest.raises(OSError) as info:
        fileio.write_bytes(target, b"new content")
    assert info.value.errno == errno.ENOSPC
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["report.json"]


def test_symlink_is_followed_and_kept(tmp_path):
    (tmp_path / "real.json").write_text("old")
    (tmp_path / "link.json").symlink_to("real.json")
    fileio.write_bytes(tmp_path / "link.json", b"new")
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "real.json").read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["link.json", "real.json"]


def test_dangling_symlink_creates_its_target(tmp_path):
    (tmp_path / "link.json").symlink_to("made.json")
    fileio.write_bytes(tmp_path / "link.json", b"x")
    assert (tmp_path / "made.json").read_bytes() == b"x" and (tmp_path / "link.json").is_symlink()


def test_devices_and_fifos_are_written_through(tmp_path):
    fileio.write_bytes("/dev/null", b"discarded")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    fileio.write_bytes(fifo, b"through the pipe")
    reader.join(30)
    assert got == [b"through the pipe"] and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_directory_and_symlink_loop_are_refused(tmp_path):
    with pytest.raises(IsADirectoryError):
        fileio.write_bytes(tmp_path, b"x")
    (tmp_path / "loop").symlink_to("loop")
    with pytest.raises(OSError) as info:
        fileio.write_bytes(tmp_path / "loop", b"x")
    assert info.value.errno == errno.ELOOP and sorted(os.listdir(tmp_path)) == ["loop"]


def test_capture_writers_use_it(tmp_path):
    from profkit.capture.files import atomic_write_json

    (tmp_path / "manifest.json").symlink_to("/dev/null")
    atomic_write_json(tmp_path / "manifest.json", {"v": 1})
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode) and (tmp_path / "manifest.json").is_symlink()


# ---- profkit.trace.source: capped, streamed decompression ------------------------------------------
def test_every_gzip_member_is_read_and_counted(tmp_path):
    data = bad_inputs.gzip_members(b"a" * 1000, b"b" * 2000, b"c" * 3000) + b"\0" * 64
    path = tmp_path / "m.json.gz"
    path.write_bytes(data)
    assert b"".join(source.trace_chunks(path)) == b"a" * 1000 + b"b" * 2000 + b"c" * 3000
    with open(path, "rb") as fh:
        assert unpacked_size(fh, path, 6000) == 6000
    with open(path, "rb") as fh, pytest.raises(TraceTooLarge, match=r"unpacks to over 5\.9 KiB"):
        unpacked_size(fh, path, 5999)


@pytest.mark.parametrize(
    "data, problem",
    [
        (gzip.compress(b"x" * 100_000)[:-9], "truncated gzip"),
        (gzip.compress(b"x") + b"PK\x03\x04", "unexpected bytes after the gzip data"),
        (gzip.compress(b"x")[:10] + b"\xff" * 50, "corrupt gzip"),
    ],
    ids=["truncated", "bytes_after", "corrupt"],  # the data holds gzip's timestamp: ids from it would differ between xdist workers
)
def test_broken_gzip_is_named(data, problem, tmp_path):
    path = tmp_path / "t.json.gz"
    path.write_bytes(data)
    with pytest.raises(TraceError, match=problem):
        b"".join(source.trace_chunks(path))


def test_dashboard_upload_check_counts_every_member(monkeypatch):
    from profkit.dashboard import uploads

    monkeypatch.setattr(uploads, "MAX_UNPACKED_BYTES", 100_000)
    small_first = bad_inputs.gzip_members(b" " * 10, *[b" " * 50_000] * 3)
    with pytest.raises(ProfkitError, match=r"bomb\.json\.gz: unpacks to over"):
        uploads.check_upload("bomb.json.gz", small_first)
    with pytest.raises(ProfkitError, match=r"cut\.json\.gz: truncated gzip"):
        uploads.check_upload("cut.json.gz", gzip.compress(b"{}" * 1000)[:-4])


@pytest.mark.parametrize("text, size", [("12345", 12345), ("8GiB", 8 * 1024**3), ("512MiB", 512 * 1024**2), ("100k", 102400), ("1.5G", 3 * 1024**3 // 2)])
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "", "-1", "0", "nan", "inf", "1e30G"])
def test_bad_sizes(text):
    with pytest.raises(ValueError):
        parse_size(text)


@pytest.mark.slow
def test_library_cap(base):
    _, path, trace = base
    with pytest.raises(TraceTooLarge, match="unpacks to over 1 MiB"):
        load_trace(path, use_cache=False, max_bytes=1024**2)
    assert load_trace(path, use_cache=False, max_bytes=trace.json_bytes).event_count == trace.event_count


# ---- profkit.trace.jsonstream: any chunking reads the same trace -----------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("chunk", [1, 997, 64 * 1024])
def test_chunk_size_does_not_change_the_trace(chunk, base, monkeypatch, tmp_path):
    b, path, expected = base
    if chunk == 1:  # byte by byte is slow: a small real trace is enough to cross every boundary
        doc = dict(b.doc, traceEvents=b.doc["traceEvents"][:300])
        path = bad_inputs.write(tmp_path / "small.json", bad_inputs.dumps(doc))
        expected = parse_trace(path)
    monkeypatch.setattr(source, "CHUNK_BYTES", chunk)
    assert same_trace(parse_trace(path), expected)


@pytest.mark.slow
def test_exact_path_reads_what_the_fast_path_cannot(base, monkeypatch, tmp_path):
    """Events holding lists of objects and '}, {' in strings: every fast cut can be wrong."""
    b, _, expected = base

    def tricky(e):
        e.setdefault("args", {})["Concrete Inputs"] = ["}, {", "},", "{"]
        e["args"]["extra"] = [{"a": "}, {"}, {"b": [{}]}]

    path = bad_inputs.write(tmp_path / "tricky.json", b.changed(tricky))
    monkeypatch.setattr(source, "CHUNK_BYTES", 4096)
    assert same_trace(parse_trace(path), expected)


def test_duplicates_keep_the_first_copy(base):
    _, _, trace = base
    cols = {c: np.concatenate([v, v[:7]]) for c, v in trace.gpu.columns.items()}
    keep = first_occurrences(cols)
    assert keep[: len(trace.gpu)].all() and not keep[len(trace.gpu) :].any()
    assert first_occurrences(trace.ops.columns).all()  # a real trace has no exact duplicates


# ---- profkit.trace.cache: only its own entries -----------------------------------------------------
@pytest.fixture
def cached(base, tmp_path, monkeypatch):
    b, _, trace = base
    monkeypatch.setenv("PROFKIT_CACHE_DIR", str(tmp_path / "cache"))
    path = bad_inputs.write(tmp_path / "t.json.gz", b.text)
    load_trace(path)
    entry = cache.cache_path(path)
    assert entry.is_file() and same_trace(cache.read(path), trace)
    return path, entry


def test_foreign_npz_under_the_key_is_a_miss(cached):
    path, entry = cached
    np.savez(entry.with_suffix(""), header=np.frombuffer(b'{"format": 5}', dtype=np.uint8))  # numpy adds .npz
    assert cache.read(path) is None
    assert load_trace(path).event_count > 0


def test_another_traces_entry_under_the_key_is_a_miss(cached, base, tmp_path):
    path, entry = cached
    other = bad_inputs.write(tmp_path / "other.json.gz", base[0].plus(base[0].kernel(ts=1.0)))
    load_trace(other)
    os.replace(cache.cache_path(other), entry)
    assert cache.read(path) is None


def test_same_size_and_mtime_but_other_content_is_a_miss(cached):
    path, _ = cached
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF  # inside the gzip trailer's neighbourhood: same size, other bytes
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cache.cache_path(path) == cached[1]  # the key alone would match
    assert cache.read(path) is None


def test_a_failed_cache_write_leaves_no_temporary(base, tmp_path, monkeypatch):
    b, _, _ = base
    monkeypatch.setenv("PROFKIT_CACHE_DIR", str(tmp_path / "cache"))
    path = bad_inputs.write(tmp_path / "t.json.gz", b.text)

    def disk_full(fh, **arrays):
        fh.write(b"PK partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez", disk_full)
    assert load_trace(path).event_count > 0  # analysis goes on, uncached
    assert os.listdir(tmp_path / "cache") == []


def test_warnings_and_size_survive_the_cache(base, tmp_path, monkeypatch):
    b, _, _ = base
    monkeypatch.setenv("PROFKIT_CACHE_DIR", str(tmp_path / "cache"))
    path = bad_inputs.write(tmp_path / "dup.json.gz", b.plus(b.first(name="ProfilerStep#2"), b.kernel(dur=-1.0)))
    first = load_trace(path)
    again = cache.read(path)
    assert len(first.warnings) == 2 and again.warnings == first.warnings and again.json_bytes == first.json_bytes
