"""Trace export: a run's events as OpenTelemetry GenAI spans, exported as JSONL, OTLP or an HTML report."""
