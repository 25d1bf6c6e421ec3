"""The `profkit analyze --json` document: a stable, documented schema (see docs/analyze-json.md).

Schema id: `profkit.analyze/1`. Fields are only ever added within a schema version. Each trace's
part is `TraceAnalysis.to_dict()`.
"""

from __future__ import annotations

from profkit.analyses.summary import TraceAnalysis

SCHEMA = "profkit.analyze/1"


def document(analyses: list[TraceAnalysis]) -> dict:
    return {"schema": SCHEMA, "traces": [a.to_dict() for a in analyses]}
