"""`profkit analyze TRACE...`: where each trace's inference time goes."""

from __future__ import annotations

from pathlib import Path

import typer

from profkit.cli.output import error_text, warn
from profkit.errors import ProfkitError, TraceError, option
from profkit.trace.source import DEFAULT_MAX_TRACE_BYTES, format_bytes, parse_size


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze)


def analyze(
    traces: list[Path] = typer.Argument(
        ..., readable=False, help="Kineto trace files (.json, .json.gz) or directories of them (e.g. traces/<run-id>)."
    ),  # the loader says what is wrong
    json_out: str | None = typer.Option(None, "--json", help="Write the JSON report (schema profkit.analyze/1) to FILE, or '-' for stdout."),
    markdown: bool = typer.Option(False, "--markdown", help="Print a Markdown report instead of the terminal one."),
    gpu: str | None = typer.Option(None, "--gpu", help="Catalog GPU to judge bandwidth/FLOPs against (default: matched from the trace)."),
    bandwidth_gbps: float | None = typer.Option(None, "--bandwidth-gbps", help="Measured DRAM bandwidth ceiling in GB/s; overrides the catalog's spec figure."),
    ceilings: Path | None = typer.Option(
        None, "--ceilings", help="Run-results JSON with measured 'ceilings' (copy GB/s, matmul TFLOP/s) of the same GPU; MBU/MFU are then judged against them."
    ),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Read and analyze the trace files again instead of using the cache (parsed traces and their analyses)."
    ),
    hta: bool = typer.Option(
        False,
        "--hta",
        help="Also run HolisticTraceAnalysis' deeper analyses (temporal breakdown, idle-time cross-check, queue length). Slow: seconds per trace.",
    ),
    max_trace_bytes: str | None = typer.Option(
        None,
        "--max-trace-bytes",
        metavar="SIZE",
        help=f"Refuse a trace whose JSON unpacks to more than SIZE (bytes, or e.g. 512MiB, 16GiB; default {format_bytes(DEFAULT_MAX_TRACE_BYTES)}).",
    ),
    strict: bool = typer.Option(False, "--strict", help="Stop at a trace file in a directory that cannot be read, instead of skipping it with a warning."),
) -> None:
    """Steps and phases, kernel categories, idle gaps and their causes, bandwidth, and a verdict per phase."""
    from profkit.api import analyzed_file

    limit = _size_option(max_trace_bytes, DEFAULT_MAX_TRACE_BYTES)
    analyses, workloads = [], []
    for path, from_directory in _trace_files(traces, strict):
        try:
            done = analyzed_file(path, gpu=gpu, bandwidth_gbps=bandwidth_gbps, ceilings=ceilings, use_cache=not no_cache, max_bytes=limit)
        except TraceError as exc:
            if strict or not from_directory:
                raise
            warn(f"{error_text(exc)} (skipped; --strict makes this an error)")
            continue
        except ProfkitError:
            raise
        except Exception as exc:  # one trace that breaks an analysis must not sink a whole directory
            if strict or not from_directory:
                raise
            warn(f"{path}: could not be analyzed ({type(exc).__name__}: {exc}); skipped")
            continue
        for note in done.trace_warnings:
            warn(f"{path}: {note}")
        analyses.append(done.analysis)
        workloads.append(done.workload)
    if not analyses:
        raise ProfkitError(f"{', '.join(map(str, traces))}: no trace could be read or analyzed (see the warnings above)")
    _emit(analyses, workloads, json_out, markdown)
    if hta:
        _run_hta([a.metadata.path for a in analyses])


def _size_option(text: str | None, default: int) -> int:
    if text is None:
        return default
    try:
        return parse_size(text)
    except ValueError as exc:
        raise ProfkitError(f"{option('max_bytes')}: {exc}") from None


def _trace_files(inputs: list[Path], strict: bool):
    """(trace file, came from a directory) for each trace file of `inputs`, through the run store's
    walker (links out of a folder are not read; what it skips is a warning, an error with --strict)."""
    from profkit.store import find_traces

    for given in inputs:
        from_directory = given.is_dir()
        paths, skipped = find_traces([given])
        if skipped and strict:
            raise ProfkitError(f"{skipped[0]} ({option('strict')})")
        for line in skipped:
            warn(f"{line} (skipped; --strict makes this an error)")
        for path in paths:
            yield path, from_directory


def _emit(analyses, workloads, json_out, markdown) -> None:
    import sys

    from profkit.report import analyze_render

    for a in analyses:
        if not a.has_gpu_activity:
            warn(f"{a.metadata.path}: no GPU activity in the trace; GPU sections are empty")
    if json_out:
        from profkit.cli.output import write_json

        write_json(_json_report(analyses), json_out)
        if json_out == "-":
            return
    if markdown:
        sys.stdout.write(analyze_render.markdown(analyses, workloads))
    else:
        analyze_render.terminal(analyses, workloads)


def _json_report(analyses) -> str:
    """The analyze JSON document as text. orjson, unless a string cannot be UTF-8 (a file name with
    undecodable bytes): then the standard json module, which writes it as \\u escapes."""
    import json

    import orjson

    from profkit.report.analysis_json import document

    doc = document(analyses)
    try:
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode() + "\n"
    except orjson.JSONEncodeError:
        return json.dumps(doc, indent=2, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)) + "\n"


def _run_hta(paths) -> None:
    from profkit.analyses.hta_bridge import hta_report

    for path in paths:
        hta_report(path)
