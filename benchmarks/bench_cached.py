"""A second `analyze` of the same trace, from the cache: as a library call and as a CLI command.

For every bundled trace (traces/samples and traces/external), each measurement its own fresh
process:

- library, first: `analyze_path(trace)` with an empty cache folder (read, analyze, store both);
- library, second: the same call again in a new process (parse and analysis from the cache);
  both the call alone, with the one-off `import profkit.analyses.summary` of the first process beside;
- CLI, first / second: the whole `profkit analyze TRACE` command (interpreter start, imports,
  reading or the cache, terminal report to a pipe), wall time seen from outside.

Targets (issue 11): second library call <= 0.3 s, second CLI command <= 1 s. Rounds alternate
over the traces; the table shows medians. Python's compiled bytecode is cached as in any installed
or once-run checkout (into a temporary PYTHONPYCACHEPREFIX, filled by a warm-up run, even where
PYTHONDONTWRITEBYTECODE is set; --no-bytecode-cache compiles profkit's sources in every process
instead: ~0.1 s more per process). Caches go to a temporary folder, removed afterwards.

    python benchmarks/bench_cached.py [--rounds 3] [--only SUBSTRING] [--no-bytecode-cache]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRACES = sorted((ROOT / "traces" / "samples").glob("*.json.gz")) + sorted((ROOT / "traces" / "external").glob("*.json.gz"))
LIBRARY_TARGET_S = 0.3
CLI_TARGET_S = 1.0

CHILD = """
import sys, time
t0 = time.perf_counter()
from profkit.analyses.summary import analyze_path
t1 = time.perf_counter()
analyze_path(sys.argv[1])
t2 = time.perf_counter()
print(f"{t1 - t0:.4f} {t2 - t1:.4f}")
"""


def library(path: Path, env: dict) -> tuple[float, float]:
    """(import s, call s) of analyze_path(path) in a fresh process."""
    r = subprocess.run([sys.executable, "-c", CHILD, str(path)], env=env, capture_output=True, text=True, timeout=600, check=False)
    if r.returncode != 0:
        raise SystemExit(f"{path.name}: library call failed:\n{r.stderr[-2000:]}")
    imported, call = map(float, r.stdout.split())
    return imported, call


def cli(path: Path, env: dict) -> float:
    """Wall seconds of `profkit analyze path` (terminal report into a pipe), a fresh process."""
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "profkit", "analyze", str(path)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=600, check=False
    )
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{path.name}: profkit analyze failed:\n{r.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="only traces whose file name contains this")
    parser.add_argument("--no-bytecode-cache", action="store_true", help="PYTHONDONTWRITEBYTECODE=1: profkit compiled in every process")
    args = parser.parse_args()
    traces = [t for t in TRACES if args.only in t.name]
    results: dict[str, dict[str, list[float]]] = {t.name: {k: [] for k in ("lib1", "import", "lib2", "cli1", "cli2")} for t in traces}
    with tempfile.TemporaryDirectory(prefix="profkit-bench-cached-") as tmp:
        base = dict(os.environ, PYTHONPATH=str(ROOT))
        if args.no_bytecode_cache:
            base["PYTHONDONTWRITEBYTECODE"] = "1"
            base.pop("PYTHONPYCACHEPREFIX", None)
        else:
            base.pop("PYTHONDONTWRITEBYTECODE", None)
            base["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
            cli(traces[0], dict(base, PROFKIT_CACHE_DIR=str(Path(tmp) / "warm-up")))  # compiles every module the command imports
            library(traces[0], dict(base, PROFKIT_CACHE_DIR=str(Path(tmp) / "warm-up")))
        for rnd in range(args.rounds):
            for i, trace in enumerate(traces):
                env = dict(base)
                r = results[trace.name]
                # library: empty cache, then warm
                env["PROFKIT_CACHE_DIR"] = str(Path(tmp) / f"lib-{rnd}-{i}")
                imported, call = library(trace, env)
                r["import"].append(imported)
                r["lib1"].append(call)
                r["lib2"].append(library(trace, env)[1])
                # CLI: empty cache, then warm
                env["PROFKIT_CACHE_DIR"] = str(Path(tmp) / f"cli-{rnd}-{i}")
                r["cli1"].append(cli(trace, env))
                r["cli2"].append(cli(trace, env))
            print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    def cell(values: list[float], target: float | None = None, digits: int = 2) -> str:
        m = statistics.median(values)
        return f"{m:.{digits}f}" + (" !" if target is not None and m > target else "")

    bytecode = "profkit compiled in every process" if args.no_bytecode_cache else "bytecode cached"
    print(
        f"\nmedian of {args.rounds} rounds, seconds; {os.cpu_count()} CPUs; {bytecode}; '!' = over the target "
        f"(second library call <= {LIBRARY_TARGET_S} s, second CLI command <= {CLI_TARGET_S} s)\n"
    )
    print("| trace | MB gz | library first | library second | (import, once) | CLI first | CLI second |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for trace in traces:
        r = results[trace.name]
        name = trace.name.removesuffix(".json.gz").removesuffix(".pt.trace")
        print(
            f"| {name} | {trace.stat().st_size / 1e6:.1f} | {cell(r['lib1'])} | {cell(r['lib2'], LIBRARY_TARGET_S, 3)} | {cell(r['import'])} "
            f"| {cell(r['cli1'])} | {cell(r['cli2'], CLI_TARGET_S)} |"
        )
    worst = {k: max(statistics.median(results[t.name][k]) for t in traces) for k in ("lib2", "import", "cli2")}
    print(f"\nworst second call: library {worst['lib2']:.3f} s (+ {worst['import']:.2f} s one-off import), CLI {worst['cli2']:.2f} s")


if __name__ == "__main__":
    main()
