"""Time profkit against HolisticTraceAnalysis on the same trace, in one run, alternating.

Each measurement is its own process working on a fresh copy of the trace (so neither tool's
caches help, and the OS page cache is warm for both). Reports wall time and peak RSS (from
wait4) per tool, and the ratio. Then the cached path: a second `profkit analyze` of the same
file (parse and analysis from the cache), as a library call (in-process timer) and as a whole CLI
command; benchmarks/bench_cached.py does this for every bundled trace.

    python benchmarks/bench_vs_hta.py [TRACE] [--rounds 3]
    python benchmarks/bench_vs_hta.py traces/external/tl_vllm_graph_capture.pt.trace.json.gz   # largest foreign trace

HTA's work: TraceAnalysis load + temporal breakdown + idle-time breakdown + kernel breakdown,
with HTA_DISABLE_NS_ROUNDING=1 (its default rounding corrupts sub-microsecond kernels).
profkit's work: `profkit analyze TRACE` (full report: steps, phases, categories, idle, bandwidth).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TRACE = ROOT / "traces" / "samples" / "h200_llama3-8b_int8_b1.pt.trace.json.gz"

HTA_SCRIPT = """
import logging, sys
logging.disable(logging.CRITICAL)
from hta.trace_analysis import TraceAnalysis
ta = TraceAnalysis(trace_dir=sys.argv[1])
rank = next(iter(ta.t.traces))  # the trace's own rank (a rank-3 trace has no rank 0)
ta.get_temporal_breakdown(visualize=False)
ta.get_idle_time_breakdown(ranks=[rank], visualize=False)
ta.get_gpu_kernel_breakdown(visualize=False)
"""

LIBRARY_SCRIPT = """
import sys, time
t0 = time.perf_counter()
from profkit.analyses.summary import analyze_path
t1 = time.perf_counter()
analyze_path(sys.argv[1])
print(t1 - t0, time.perf_counter() - t1)
"""


def run_with_rusage(cmd: list[str], env: dict) -> tuple[float, float, str]:
    t0 = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}")
        out.seek(0)
        return wall, usage.ru_maxrss / 1024, out.read()


def fresh_copy(trace: Path, workdir: Path, i: int) -> Path:
    d = workdir / f"copy{i}"
    d.mkdir()
    target = d / trace.name
    shutil.copyfile(trace, target)
    return target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace", nargs="?", type=Path, default=DEFAULT_TRACE)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not args.trace.is_file():
        raise SystemExit(f"bench: {args.trace}: no such file")

    with tempfile.TemporaryDirectory(prefix="profkit-bench-") as tmp:
        work = Path(tmp)
        env = dict(os.environ, HTA_DISABLE_NS_ROUNDING="1", PROFKIT_CACHE_DIR=str(work / "cache"))
        profkit_cmd = [sys.executable, "-m", "profkit", "analyze"]
        results: dict[str, list[tuple[float, float]]] = {"profkit": [], "hta": []}
        for r in range(args.rounds):  # alternate so drift hits both tools alike
            p = fresh_copy(args.trace, work, 2 * r)
            results["profkit"].append(run_with_rusage([*profkit_cmd, str(p)], env)[:2])
            h = fresh_copy(args.trace, work, 2 * r + 1)
            results["hta"].append(run_with_rusage([sys.executable, "-c", HTA_SCRIPT, str(h.parent)], env)[:2])
        # Cached path: the last profkit copy has been parsed once already.
        cli_cached = [run_with_rusage([*profkit_cmd, str(p)], env)[0] for _ in range(args.rounds)]
        lib_runs = [run_with_rusage([sys.executable, "-c", LIBRARY_SCRIPT, str(p)], env)[2].split() for _ in range(args.rounds)]
        lib_import = [float(i) for i, _ in lib_runs]
        lib_cached = [float(c) for _, c in lib_runs]

    size_mb = args.trace.stat().st_size / 1e6
    med = {k: (statistics.median(w for w, _ in v), max(m for _, m in v)) for k, v in results.items()}
    print(f"trace: {args.trace.name} ({size_mb:.1f} MB gz), {args.rounds} alternating rounds, fresh copy per run")
    print(f"{'':32s}{'median wall s':>14s}{'peak RSS MiB':>14s}")
    print(f"{'profkit analyze (full, uncached)':32s}{med['profkit'][0]:14.2f}{med['profkit'][1]:14.0f}")
    print(f"{'HTA load+temporal+idle+kernel':32s}{med['hta'][0]:14.2f}{med['hta'][1]:14.0f}")
    print(f"speed-up: {med['hta'][0] / med['profkit'][0]:.2f}x faster; memory: {med['profkit'][1] / med['hta'][1]:.2f}x of HTA's peak RSS")
    print(
        f"second analysis (parse and analysis cached): library call analyze_path() {statistics.median(lib_cached):.3f} s (+ "
        f"{statistics.median(lib_import):.3f} s one-off import), whole CLI command {statistics.median(cli_cached):.2f} s"
    )
    print("targets: >=3x faster than HTA with no more memory; cached <=0.3 s library, <=1 s CLI")


if __name__ == "__main__":
    main()
