"""GPU check for `profkit run`: the full-size Llama 3 8B sweep on random weights.

    python examples/gpu_check.py [--out traces] [--run-id gpu-check]

Runs int8 / fp16 / bf16 x batch 1 and 16 in eager mode, then bf16 x batch 1 and 16 compiled
(static KV cache + torch.compile with CUDA graphs), into one run folder; prints the summary table
and writes `<run>/gpu_check_results.json`. Needs an NVIDIA GPU with ~24 GB free (the 8B model in
16 bit plus the int8 conversion); about 3 minutes on an H100. Exit code 0 when every configuration
is ok, 1 when any failed, 2 when there is no GPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from profkit.capture.config import RunConfig
from profkit.capture.files import atomic_write_json
from profkit.capture.manifest import summary_rows
from profkit.capture.sweep import SweepReporter

RESULTS_FILE = "gpu_check_results.json"
EAGER = dict(precisions=("int8", "fp16", "bf16"), batch_sizes=(1, 16), modes=("eager",))
COMPILED = dict(precisions=("bf16",), batch_sizes=(1, 16), modes=("compiled",))
# Reference decode step times (ms) from shared traces, for orientation only (H200 eager, H100 compiled).
REFERENCE_TPOT_MS = {"bf16_b1_eager": 38.7, "int8_b1_eager": 133.2, "bf16_b1_compiled": 11.5}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="traces", help="folder for the run folder (default: traces)")
    p.add_argument("--run-id", default=None, help="run folder name (default: gpu-check-<time>)")
    p.add_argument("--prompt-len", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=32, help="tokens per timed generation (default 32)")
    p.add_argument("--profile-steps", type=int, default=5, help="decode tokens traced (default 5)")
    return p.parse_args(argv)


def sweep_configs(args: argparse.Namespace) -> tuple[RunConfig, RunConfig]:
    """The eager sweep, then the compiled bf16 sweep resuming into the same run folder."""
    run_id = args.run_id or time.strftime("gpu-check-%Y%m%d-%H%M%S")
    eager = RunConfig(model_config="llama-3-8b", prompt_len=args.prompt_len, new_tokens=args.new_tokens,
                      profile_steps=args.profile_steps, device="cuda", out_dir=args.out, run_id=run_id, **EAGER)
    return eager, replace(eager, resume=True, **COMPILED)


class PrintReporter(SweepReporter):
    """One line per phase, with the time since start: enough to see where the minutes go."""

    def __init__(self):
        self.t0 = time.perf_counter()

    def _say(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.t0:6.1f} s] {text}", flush=True)

    def note(self, text: str) -> None:
        self._say(f"note: {text}")

    def config_started(self, spec, what: str) -> None:
        self._say(f"{spec.name}: {what}")

    def config_done(self, spec, entry: dict) -> None:
        t = entry.get("timing") or {}
        self._say(f"{spec.name}: {entry['status']} TPOT {t.get('tpot_median_ms', float('nan')):.2f} ms "
                  f"{entry['error'] or ''}")


def print_summary(manifest: dict) -> None:
    rows = summary_rows(manifest)
    if not rows:
        return
    widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in rows[0]}
    print("  ".join(k.ljust(w) for k, w in widths.items()))
    for r in rows:
        print("  ".join(r[k].ljust(w) for k, w in widths.items()))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU visible; this script checks `profkit run` on a GPU machine", file=sys.stderr)
        return 2
    from profkit.capture.sweep import run_sweep

    t0 = time.perf_counter()
    result = None
    reporter = PrintReporter()
    for cfg in sweep_configs(args):
        result = run_sweep(cfg, reporter)
    wall_s = time.perf_counter() - t0
    manifest = result.manifest
    print_summary(manifest)
    failed = [c["name"] for c in manifest["configs"] if c["status"] != "ok"]
    results = {
        "run_dir": str(result.run_dir),
        "wall_s": wall_s,
        "gpu": manifest["environment"]["gpu_name"],
        "configs": summary_rows(manifest),
        "not_ok": failed,
        "reference_tpot_ms": REFERENCE_TPOT_MS,
    }
    atomic_write_json(Path(result.run_dir) / RESULTS_FILE, results)
    print(f"{len(manifest['configs'])} configurations in {wall_s:.0f} s on {results['gpu']}; "
          f"traces in {result.run_dir}; not ok: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
