"""A run's trace to download: JSONL and HTML as `podium trace` writes them, and OTLP JSON (the
OTLP/HTTP JSON body a collector accepts) through the OpenTelemetry SDK's own encoder."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from podium.core.errors import ExtraMissing
from podium.trace.export import render
from podium.trace.spans import Span

KINDS = {
    "jsonl": ("application/x-ndjson; charset=utf-8", "jsonl"),
    "html": ("text/html; charset=utf-8", "html"),
    "otlp.json": ("application/json", "otlp.json"),
}
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def otlp_json(spans: Sequence[Span]) -> str:
    """The spans as one OTLP/JSON ExportTraceServiceRequest: ids in hex and enums as numbers, as the
    OTLP specification's JSON encoding asks (protobuf's own JSON mapping would give base64 ids)."""
    from podium.trace.otlp import to_readable

    readable = to_readable(spans)  # ExtraMissing, naming podium[otlp], without the SDK
    try:
        from google.protobuf.json_format import MessageToDict
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    except ImportError as exc:
        raise ExtraMissing(
            f"the OTLP JSON download needs the OTLP exporter ({exc.name or exc})",
            fix="pip install 'podium[otlp]'",
        ) from None
    message = MessageToDict(encode_spans(readable), use_integers_for_enums=True)
    _hex_ids(message)
    return json.dumps(message, ensure_ascii=False, indent=1)


def _hex_ids(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _hex_ids(value)
    elif isinstance(node, list):
        for value in node:
            _hex_ids(value)


def trace_document(spans: Sequence[Span], kind: str, title: str) -> str:
    """The spans in the download format `kind` (one of KINDS)."""
    if kind == "otlp.json":
        return otlp_json(spans)
    return render(spans, kind, title=title)
