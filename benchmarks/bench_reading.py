"""Reading a trace: time and peak memory of `parse_trace` on a real trace and on hostile files.

Each measurement is its own process (peak RSS from wait4), with the default `--max-trace-bytes`
unless a cap is given:

- the real trace (default: the bundled int8 sample, 158k events, 48 MB of JSON): parse time (best
  of --rounds) and peak RSS;
- a whitespace bomb: one gzip member unpacking to --bomb-gib GiB of blank space inside traceEvents
  (read to the end: 0 events), and a multi-member one past the default cap (refused);
- junk-event bombs: `{}` entries (nothing kept) and minimal distinct kernel events (all kept), with
  as many events as the real trace and 8x as many, to set their memory against the real trace's.

    python benchmarks/bench_reading.py [TRACE] [--rounds 3] [--bomb-gib 4]

The bombs are written to a temporary folder and deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TRACE = ROOT / "traces" / "samples" / "h200_llama3-8b_int8_b1.pt.trace.json.gz"

CHILD = """
import sys, time
from profkit.errors import TraceError
from profkit.trace.loader import parse_trace
t0 = time.perf_counter()
try:
    trace = parse_trace(sys.argv[1])
    outcome = f"read: {trace.event_count:,} events, {sum(len(getattr(trace, t)) for t in ('gpu', 'runtime', 'ops', 'annotations')):,} kept"
except TraceError as exc:
    outcome = f"refused: {exc.problem[:60]}"
print(f"{time.perf_counter() - t0:.3f}|{outcome}")
"""


def measure(path: Path) -> tuple[float, float, str]:
    """(seconds, peak RSS MiB, outcome) of parse_trace(path) in a fresh process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryFile(mode="w+") as out:
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        out.seek(0)
        text = out.read().strip()
    if os.waitstatus_to_exitcode(status) != 0:
        return float("nan"), usage.ru_maxrss / 1024, f"FAILED: {text[-200:]}"
    seconds, outcome = text.splitlines()[-1].split("|", 1)
    return float(seconds), usage.ru_maxrss / 1024, outcome


def gzip_stream(path: Path, head: bytes, block: bytes, repeats: int, tail: bytes, members: int = 1) -> Path:
    """A gzip file of head + block*repeats + tail (split over `members` members), written as it is compressed."""
    with open(path, "wb") as fh:
        per_member = -(-repeats // members)
        done = 0
        for m in range(members):
            z = zlib.compressobj(6, zlib.DEFLATED, 31)
            if m == 0:
                fh.write(z.compress(head))
            for _ in range(min(per_member, repeats - done)):
                fh.write(z.compress(block))
                done += 1
            if m == members - 1:
                fh.write(z.compress(tail))
            fh.write(z.flush())
    return path


def junk_events(path: Path, count: int, kept: bool) -> Path:
    """`count` junk events: `{}` (skipped by the reader) or distinct minimal kernels (kept)."""

    def block(first: int, n: int) -> bytes:
        if not kept:
            return b"{}, " * n
        return b"".join(b'{"ph": "X", "cat": "kernel", "name": "k", "ts": %d, "dur": 1, "args": {"stream": 7}}, ' % i for i in range(first, first + n))

    with open(path, "wb") as fh:
        z = zlib.compressobj(6, zlib.DEFLATED, 31)
        fh.write(z.compress(b'{"traceEvents": ['))
        fh.writelines(z.compress(block(first, min(100_000, count - 1 - first))) for first in range(0, count - 1, 100_000))
        fh.write(z.compress(b'{"ph": "i"}]}'))
        fh.write(z.flush())
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace", nargs="?", type=Path, default=DEFAULT_TRACE)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bomb-gib", type=float, default=4.0, help="size of the blank-space bomb read to the end")
    args = ap.parse_args()
    rows = []
    runs = [measure(args.trace) for _ in range(args.rounds)]
    best = min(runs, key=lambda r: r[0])
    rows.append((f"real trace {args.trace.name}", args.trace.stat().st_size, *best))
    real_events = int(best[2].split()[1].replace(",", ""))
    with tempfile.TemporaryDirectory(prefix="profkit-bench-reading-") as tmp:
        work = Path(tmp)
        mib = b" " * (1024**2)
        cases = [
            (
                f"blank-space bomb, {args.bomb_gib:g} GiB, 1 member",
                gzip_stream(work / "ws.json.gz", b'{"traceEvents": [', mib, int(args.bomb_gib * 1024), b"]}"),
            ),
            (
                "blank-space bomb, 14 GiB, 14 members (over the cap)",
                gzip_stream(work / "ws14.json.gz", b'{"traceEvents": [', mib, 14 * 1024, b"]}", members=14),
            ),
            (f"{{}} events x {real_events:,}", junk_events(work / "junk1.json.gz", real_events, kept=False)),
            (f"{{}} events x {8 * real_events:,}", junk_events(work / "junk8.json.gz", 8 * real_events, kept=False)),
            (f"kept kernel events x {real_events:,}", junk_events(work / "kept1.json.gz", real_events, kept=True)),
            (f"kept kernel events x {8 * real_events:,}", junk_events(work / "kept8.json.gz", 8 * real_events, kept=True)),
        ]
        for label, path in cases:
            rows.append((label, path.stat().st_size, *measure(path)))
            path.unlink()
    print(f"{'input':<48} {'file MB':>9} {'seconds':>8} {'peak RSS MiB':>13}  outcome")
    for label, size, seconds, rss, outcome in rows:
        print(f"{label:<48} {size / 1e6:>9.1f} {seconds:>8.2f} {rss:>13.0f}  {outcome}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"(benchmark took {time.perf_counter() - t0:.0f} s)")
