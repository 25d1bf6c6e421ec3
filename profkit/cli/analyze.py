"""`profkit analyze TRACE...`: where each trace's inference time goes."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from profkit.cli.output import warn
from profkit.errors import ProfkitError, TraceError
from profkit.trace.source import DEFAULT_MAX_TRACE_BYTES, format_bytes, parse_size


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze)


def analyze(
    traces: list[Path] = typer.Argument(..., readable=False, help="Kineto trace files (.json, .json.gz) or directories of them (e.g. traces/<run-id>)."),  # the loader says what is wrong
    json_out: Optional[str] = typer.Option(None, "--json", help="Write the JSON report (schema profkit.analyze/1) to FILE, or '-' for stdout."),
    markdown: bool = typer.Option(False, "--markdown", help="Print a Markdown report instead of the terminal one."),
    gpu: Optional[str] = typer.Option(None, "--gpu", help="Catalog GPU to judge bandwidth/FLOPs against (default: matched from the trace)."),
    bandwidth_gbps: Optional[float] = typer.Option(None, "--bandwidth-gbps", help="Measured DRAM bandwidth ceiling in GB/s; overrides the catalog's spec figure."),
    ceilings: Optional[Path] = typer.Option(None, "--ceilings", help="Run-results JSON with measured 'ceilings' (copy GB/s, matmul TFLOP/s) of the same GPU; MBU/MFU are then judged against them."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Read and analyze the trace files again instead of using the cache (parsed traces and their analyses)."),
    hta: bool = typer.Option(False, "--hta", help="Also run HolisticTraceAnalysis' deeper analyses (temporal breakdown, idle-time cross-check, queue length). Slow: seconds per trace."),
    max_trace_bytes: Optional[str] = typer.Option(None, "--max-trace-bytes", metavar="SIZE", help=f"Refuse a trace whose JSON unpacks to more than SIZE (bytes, or e.g. 512MiB, 16GiB; default {format_bytes(DEFAULT_MAX_TRACE_BYTES)})."),
    strict: bool = typer.Option(False, "--strict", help="Stop at a trace file in a directory that cannot be read, instead of skipping it with a warning."),
) -> None:
    """Steps and phases, kernel categories, idle gaps and their causes, bandwidth, and a verdict per phase."""
    limit = _size_option("--max-trace-bytes", max_trace_bytes, DEFAULT_MAX_TRACE_BYTES)
    analyses, workloads = [], []
    for path, from_directory in _trace_files(traces, strict):
        try:
            done = _analyze_file(path, limit, not no_cache, gpu, bandwidth_gbps, ceilings)
        except TraceError as exc:
            if strict or not from_directory:
                raise
            warn(f"{exc} (skipped; --strict makes this an error)")
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


def _size_option(option: str, text: str | None, default: int) -> int:
    if text is None:
        return default
    try:
        return parse_size(text)
    except ValueError as exc:
        raise ProfkitError(f"{option}: {exc}") from None


def _trace_files(inputs: list[Path], strict: bool):
    """(trace file, came from a directory) for each trace file of `inputs`, through the run store's
    walker (links out of a folder are not read; what it skips is a warning, an error with --strict)."""
    from profkit.store import find_traces

    for given in inputs:
        from_directory = given.is_dir()
        paths, skipped = find_traces([given])
        if skipped and strict:
            raise ProfkitError(f"{skipped[0]} (--strict)")
        for line in skipped:
            warn(f"{line} (skipped; --strict makes this an error)")
        for path in paths:
            yield path, from_directory


def _analyze_file(path: Path, max_bytes: int, use_cache: bool, gpu, bandwidth_gbps, ceilings):
    """The file's `AnalyzedFile`: from the analysis cache when it holds this file judged against this GPU.
    With --gpu/--bandwidth-gbps/--ceilings the trace is loaded first: the GPU to judge against depends on it."""
    from profkit.analyses.cache import analyze_file

    if gpu is None and bandwidth_gbps is None and ceilings is None:
        return analyze_file(path, None, use_cache=use_cache, max_bytes=max_bytes)
    from profkit.trace import load_trace

    trace = load_trace(path, use_cache=use_cache, max_bytes=max_bytes)
    return analyze_file(path, _gpu_override(gpu, bandwidth_gbps, ceilings, trace), use_cache=use_cache, max_bytes=max_bytes, trace=trace)


def _gpu_override(key, bandwidth_gbps, ceilings_path, trace):
    """The GPU to judge against: --gpu, else matched from the trace; with measured ceilings. A GPU the
    catalog does not know is judged against --bandwidth-gbps alone (no tensor peaks: MFU unknown)."""
    from profkit.hardware.catalog import GpuSpec, get_gpu, match_gpu, with_measured

    if key is None and bandwidth_gbps is None and ceilings_path is None:
        return None  # analyze_trace matches the trace's GPU itself
    if bandwidth_gbps is not None and not bandwidth_gbps > 0:
        raise ProfkitError(f"--bandwidth-gbps must be a positive number of GB/s, got {bandwidth_gbps}")
    props = trace.device_properties[0] if trace.device_properties else {}
    spec = get_gpu(key) if key else match_gpu(str(props.get("name") or ""), props.get("totalGlobalMem"), props.get("numSms"))
    peaks = {}
    if ceilings_path is not None:
        measured = _measured_ceilings(ceilings_path, props.get("name"))
        bandwidth_gbps = bandwidth_gbps if bandwidth_gbps is not None else measured.bandwidth_gbps
        peaks = measured.peak_tflops
    if spec is None:
        if bandwidth_gbps is None:
            raise ProfkitError(
                f"{trace.path}: GPU {props.get('name')!r} is not in the catalog; give --bandwidth-gbps X (its DRAM GB/s) "
                "or --gpu KEY (see `profkit estimate --help` for catalog keys)"
            )
        memory = props.get("totalGlobalMem") if isinstance(props.get("totalGlobalMem"), int) and props.get("totalGlobalMem") > 0 else 1
        sms = props.get("numSms") if isinstance(props.get("numSms"), int) else 0
        return GpuSpec("unlisted", str(props.get("name") or "unnamed GPU"), memory, float(bandwidth_gbps), dict(peaks), sms, source="measured")
    if bandwidth_gbps is None and not peaks:
        return spec
    return with_measured(spec, bandwidth_gbps=bandwidth_gbps, peak_tflops=peaks)


def _measured_ceilings(path, trace_gpu):
    from profkit.hardware.ceilings import read_ceilings

    measured = read_ceilings(path)
    if trace_gpu and measured.gpu_name and measured.gpu_name != trace_gpu:
        raise ProfkitError(f"{path}: ceilings were measured on {measured.gpu_name}, the trace ran on {trace_gpu}; give ceilings of the same GPU")
    return measured


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
