"""OTLP export: a run's spans sent to an OpenTelemetry collector over OTLP/HTTP, after the fact or live.

`export` sends spans already made (`spans_of` a stored run) and raises `ExportFailed` when the
collector does not take them. `LiveExport` is a plugin that folds each run's events as they happen
and hands the spans each event ended to the SDK's `BatchSpanProcessor` (a background thread), so
Jaeger, Phoenix or Langfuse show a run while it goes; a collector that is down never fails or slows
the run: its spans are dropped, and that is said once.

The OpenTelemetry SDK is the optional extra ``podium[otlp]``; it is imported inside functions only,
so `import podium` and `podium --help` never load it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from podium.core.errors import BadInput, ExportFailed, ExtraMissing
from podium.core.events import EventType
from podium.plugins import hookimpl
from podium.trace.redact import Redactor
from podium.trace.spans import AttributesHook, Span, TraceFold

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExportResult

    from podium.core.events import Event

__all__ = [
    "LiveExport",
    "SpanSender",
    "export",
    "live_export_from_settings",
    "to_readable",
    "traces_endpoint",
]

log = logging.getLogger("podium")

TRACES_PATH = "/v1/traces"
BATCH = 512  # spans per request: the SDK's own default batch size
# what the SDK says at a shutdown podium asked for, which is no sign of a failing collector
_NOT_TROUBLE = ("Exporter already", "OTLP client already", "Shutdown")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT64 = (-(2**63), 2**63 - 1)
# the SDK's loggers that speak while podium exports (retries, failures, a full queue): podium says
# what matters itself, once, so these are silenced while (and only while) podium's own export runs
_SDK_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.sdk._shared_internal",
)


# --- the SDK, lazily ---------------------------------------------------------------------------


def _otel() -> SimpleNamespace:
    """The OpenTelemetry names podium uses, imported now; a missing extra is a podium error."""
    try:
        from opentelemetry.exporter.otlp.proto.http import trace_exporter
        from opentelemetry.sdk import resources, trace, util
        from opentelemetry.sdk.trace import export
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
    except ImportError as exc:
        raise ExtraMissing(
            f"OTLP export needs the OpenTelemetry SDK and its OTLP/HTTP exporter ({exc.name or exc})",
            fix="pip install 'podium[otlp]'",
        ) from None
    _install_quiet_filter()
    return SimpleNamespace(
        OTLPSpanExporter=trace_exporter.OTLPSpanExporter,
        Resource=resources.Resource,
        OtelEvent=trace.Event,
        ReadableSpan=trace.ReadableSpan,
        BatchSpanProcessor=export.BatchSpanProcessor,
        SpanExportResult=export.SpanExportResult,
        InstrumentationScope=util.instrumentation.InstrumentationScope,
        SpanContext=SpanContext,
        SpanKind=SpanKind,
        Status=Status,
        StatusCode=StatusCode,
        TraceFlags=TraceFlags,
    )


# --- podium spans as the SDK's ReadableSpans ---------------------------------------------------


def _ns(at: datetime) -> int:
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return (at - _EPOCH) // timedelta(microseconds=1) * 1000


def _value(value: Any) -> Any:
    """An attribute value OTLP can carry: a scalar or a homogeneous list of them, else JSON text."""
    if isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else str(value)
    if isinstance(value, list | tuple):
        kinds = {type(v) for v in value}
        if len(kinds) <= 1 and kinds <= {bool, str, float, int} and all(_value(v) is v for v in value):
            return list(value)
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def _attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _value(v) for k, v in attributes.items() if v is not None}


def _is_cloud(span: Span) -> bool:
    """Whether the span is a request that leaves this process for a cloud (an OTel CLIENT span)."""
    if span.kind == "call":
        provider = span.attributes.get("podium.provider")
        return provider is not None and provider not in ("local", "?")
    # Bedrock's action groups and knowledge bases run in the cloud; tools of podium's own tool
    # loop (type "function") run here
    return span.kind == "tool" and span.attributes.get("gen_ai.tool.type") in ("extension", "datastore")


@dataclass(frozen=True, slots=True)
class _Converter:
    """Makes ReadableSpans with one Resource and scope (built once: Resource.create reads the env)."""

    otel: SimpleNamespace
    resource: Any
    scope: Any

    @classmethod
    def make(cls, resource_attributes: Mapping[str, Any] | None = None) -> _Converter:
        from podium import __version__

        otel = _otel()
        attributes: dict[str, Any] = {"service.name": "podium", "service.version": __version__}
        attributes.update(_attributes(resource_attributes or {}))
        return cls(otel, otel.Resource.create(attributes), otel.InstrumentationScope("podium", __version__))

    def context(self, trace_id: str, span_id: str) -> Any:
        o = self.otel
        return o.SpanContext(int(trace_id, 16), int(span_id, 16), False, o.TraceFlags(o.TraceFlags.SAMPLED))

    def readable(self, span: Span, end: datetime | None = None) -> ReadableSpan:
        o = self.otel
        attributes = _attributes(span.attributes)
        if span.end_time is None:
            attributes["podium.unfinished"] = True
        finish = span.end_time or max(end or span.start_time, span.start_time)
        if span.status == "ok":
            status = o.Status(o.StatusCode.OK)
        elif span.status == "error":
            status = o.Status(o.StatusCode.ERROR, span.status_message)
        else:
            status = o.Status(o.StatusCode.UNSET)
        return o.ReadableSpan(
            name=span.name,
            context=self.context(span.trace_id, span.span_id),
            parent=None if span.parent_span_id is None else self.context(span.trace_id, span.parent_span_id),
            resource=self.resource,
            attributes=attributes,
            events=[o.OtelEvent(e.name, _attributes(e.attributes), _ns(e.time)) for e in span.events],
            kind=o.SpanKind.CLIENT if _is_cloud(span) else o.SpanKind.INTERNAL,
            status=status,
            start_time=_ns(span.start_time),
            end_time=_ns(finish),
            instrumentation_scope=self.scope,
        )


def to_readable(
    spans: Sequence[Span], *, resource_attributes: Mapping[str, Any] | None = None
) -> list[ReadableSpan]:
    """podium spans as OpenTelemetry SDK `ReadableSpan`s, ready for any SDK span exporter.

    Ids are podium's own (derived from the run id, so they match the ``traceparent`` each cloud
    call carried); the Resource is ``service.name=podium`` (and its version) plus
    `resource_attributes`. A span still open (a run waiting for a person) ends at the latest time
    the spans know, with ``podium.unfinished=true``. Attribute values that OTLP cannot carry (maps,
    mixed lists) become JSON text; None values are left out.
    """
    converter = _Converter.make(resource_attributes)
    times = [s.end_time or s.start_time for s in spans]
    latest = max(times) if times else None
    return [converter.readable(span, latest) for span in spans]


# --- where spans go ----------------------------------------------------------------------------


def _shown(url: str) -> str:
    """The URL as messages may show it: without a password or a query (where tokens hide)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def traces_endpoint(
    endpoint: str | None = None, *, environ: Mapping[str, str] | None = None, option: str = "--endpoint"
) -> str:
    """The OTLP/HTTP URL spans are posted to, as the SDK's conventions say.

    `endpoint` (``--endpoint``) is a collector's base URL, to which ``/v1/traces`` is added (a URL
    already ending in it is kept); else ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is used as it is;
    else ``OTEL_EXPORTER_OTLP_ENDPOINT`` is a base URL. None of them is bad input, whose message names
    `option` (the flag that gave `endpoint`).
    """
    env = os.environ if environ is None else environ
    if endpoint:
        url, given = endpoint.strip(), option
        if not urlsplit(url).path.rstrip("/").endswith(TRACES_PATH):
            url = url.rstrip("/") + TRACES_PATH
    elif env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        url, given = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"].strip(), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    elif env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        url = env["OTEL_EXPORTER_OTLP_ENDPOINT"].strip().rstrip("/") + TRACES_PATH
        given = "OTEL_EXPORTER_OTLP_ENDPOINT"
    else:
        raise BadInput(
            "no OTLP endpoint: podium does not know where to send the spans",
            fix=f"give {option} http://HOST:4318 or set OTEL_EXPORTER_OTLP_ENDPOINT",
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(
            f"{given} {_shown(url) if parts.hostname else url!r} is not an http(s) URL",
            fix="give the collector's OTLP/HTTP base URL, e.g. http://127.0.0.1:4318",
        )
    return url


class _Quiet(logging.Filter):
    """Holds back the SDK's records in a thread that podium is exporting from, and passes each to
    that export's `sink` instead (podium decides what the user hears, and says it once)."""

    def __init__(self) -> None:
        super().__init__("podium-otlp")
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        sink: Callable[[logging.LogRecord], None] | None = getattr(self.local, "sink", None)
        if sink is None:
            return True
        sink(record)
        return False

    @contextmanager
    def sending(self, sink: Callable[[logging.LogRecord], None]) -> Iterator[None]:
        before = getattr(self.local, "sink", None)
        self.local.sink = sink
        try:
            yield
        finally:
            self.local.sink = before


# A logging filter is process-wide by nature; this one acts only in a thread inside `sending`.
_QUIET = _Quiet()
_QUIET_LOCK = threading.Lock()


def _install_quiet_filter() -> None:
    with _QUIET_LOCK:
        for name in _SDK_LOGGERS:
            logger = logging.getLogger(name)
            if _QUIET not in logger.filters:
                logger.addFilter(_QUIET)


def _exporter(otel: SimpleNamespace, url: str, headers: Mapping[str, str] | None, timeout: float) -> Any:
    # the SDK adds OTEL_EXPORTER_OTLP_(TRACES_)HEADERS itself; headers given here win over them.
    # `timeout` bounds each request and the SDK's retries with backoff together (its deadline).
    return otel.OTLPSpanExporter(endpoint=url, headers=dict(headers or {}) or None, timeout=timeout)


def export(
    spans: Sequence[Span],
    *,
    endpoint: str | None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10,
    resource_attributes: Mapping[str, Any] | None = None,
) -> int:
    """Send spans (a stored run's, from `spans_of`) to an OTLP/HTTP collector; return how many.

    `endpoint` is the collector's base URL (``http://127.0.0.1:4318``; see `traces_endpoint` for
    the environment variables used without it); `headers` are added to the SDK's
    ``OTEL_EXPORTER_OTLP_HEADERS``. A collector that refuses the spans or does not answer within
    `timeout` seconds (retries included) raises `ExportFailed` (exit 1 at the command line).
    """
    url = traces_endpoint(endpoint)
    readable = to_readable(spans, resource_attributes=resource_attributes)
    if not readable:
        return 0
    converter_otel = _otel()
    exporter = _exporter(converter_otel, url, headers, timeout)
    heard: list[str] = []
    sent = 0
    try:
        with _QUIET.sending(lambda record: heard.append(record.getMessage())):
            for start in range(0, len(readable), BATCH):
                batch = readable[start : start + BATCH]
                try:
                    result = exporter.export(batch)
                except Exception as exc:  # the SDK's own failure is the collector's, to the user
                    heard.append(str(exc))
                    result = converter_otel.SpanExportResult.FAILURE
                if result is not converter_otel.SpanExportResult.SUCCESS:
                    why = heard[-1] if heard else "no answer"
                    raise ExportFailed(
                        f"the OTLP collector at {_shown(url)} did not take the spans"
                        f" ({sent} of {len(readable)} sent): {why}",
                        fix="check that the collector is running and listens for OTLP/HTTP there"
                        " (port 4318 by default), and its headers (OTEL_EXPORTER_OTLP_HEADERS)",
                    )
                sent += len(batch)
    finally:
        with _QUIET.sending(lambda record: None):
            exporter.shutdown()
    return sent


# --- live export -------------------------------------------------------------------------------


class _Guard:
    """The span exporter the batch processor calls (on its thread): it sends through the SDK's
    exporter, never raises, counts what was sent and dropped, and says once that spans are dropped.

    A collector that fails is "failing" until a batch gets through; while the export is closing,
    a failing collector's batches are dropped at once and its retries cut short, so a run's end
    never waits out the SDK's backoff.
    """

    def __init__(self, otel: SimpleNamespace, inner: Any, url: str) -> None:
        self.otel = otel
        self.inner = inner
        self.url = url
        self.sent = 0
        self.dropped = 0
        self.failed_batches = 0
        self.failing = False
        self.closing = False
        self.aborted = False
        self.said = False
        self.lock = threading.Lock()

    def export(self, batch: Sequence[ReadableSpan]) -> SpanExportResult:
        failure = self.otel.SpanExportResult.FAILURE
        if self.aborted or (self.closing and self.failing):
            self.drop(len(batch))
            return failure
        try:
            with _QUIET.sending(self.heard):
                result = self.inner.export(batch)
        except Exception:  # the run must not notice the collector: an exporter bug is a drop too
            log.debug("otlp: exporting to %s failed", _shown(self.url), exc_info=True)
            result = failure
        if result is self.otel.SpanExportResult.SUCCESS:
            self.failing = False
            self.sent += len(batch)
        else:
            self.failing = True
            self.failed_batches += 1
            self.drop(len(batch))
        return result

    def heard(self, record: logging.LogRecord) -> None:
        """The SDK's records during an export: a retry means the collector is failing."""
        message = record.getMessage()
        if message.startswith("Queue full"):
            self.drop(1)
        elif record.levelno >= logging.WARNING and not message.startswith(_NOT_TROUBLE):
            self.failing = True
            if self.closing:
                self.abort()  # cut the SDK's backoff short: the run is ending
        log.debug("otlp: %s", message)

    def drop(self, count: int) -> None:
        with self.lock:
            self.dropped += count
            say, self.said = not self.said, True
        if say:
            log.warning(
                "the OTLP collector at %s is not taking spans; this run's spans are being dropped"
                " (the run goes on)",
                _shown(self.url),
            )

    def abort(self) -> None:
        with self.lock:
            if self.aborted:
                return
            self.aborted = True
        with _QUIET.sending(lambda record: None):
            self.inner.shutdown()  # wakes the SDK's retry wait; later exports fail at once

    def shutdown(self) -> None:
        self.abort()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class SpanSender:
    """Sends ended spans to an OTLP/HTTP collector from a background thread, and never raises.

    Each span is redacted, made a `ReadableSpan` and handed to the SDK's `BatchSpanProcessor`: a
    bounded queue whose thread posts batches (every `schedule_delay` seconds, or at 512 spans). A
    collector that is down or failing costs the sender nothing but the drop: its spans are counted
    as dropped and a warning (logger ``podium``) says so once, naming the collector. `LiveExport`
    (in a run's process) and the follower (`podium.trace.follow`, beside it) both send through one.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10,
        resource_attributes: Mapping[str, Any] | None = None,
        schedule_delay: float = 0.5,
        max_queue_size: int = 2048,
        redactor: Redactor | None = None,
    ) -> None:
        self.url = traces_endpoint(endpoint)
        # secrets never leave, live or not: the environment's are read once, when the sender is made
        self.redactor = redactor if redactor is not None else Redactor.from_environment()
        self.converter = _Converter.make(resource_attributes)
        otel = self.converter.otel
        self.guard = _Guard(otel, _exporter(otel, self.url, headers, timeout), self.url)
        self.processor = otel.BatchSpanProcessor(
            self.guard,
            max_queue_size=max_queue_size,
            schedule_delay_millis=schedule_delay * 1000,
            max_export_batch_size=min(BATCH, max_queue_size),
        )
        self._closed = False

    @property
    def sent(self) -> int:
        """Spans the collector took so far."""
        return self.guard.sent

    @property
    def dropped(self) -> int:
        """Spans dropped so far (a collector down or too slow for the queue)."""
        return self.guard.dropped

    def send(self, spans: Sequence[Span]) -> None:
        """Queue ended spans for the collector (redacted first); nothing once closed."""
        if self._closed or not spans:
            return
        readable = [self.converter.readable(self.redactor.span(span)) for span in spans]
        with _QUIET.sending(self.guard.heard):
            for span in readable:
                self.processor.on_end(span)

    def flush(self, timeout: float = 5) -> bool:
        """Send what is queued now; False if it did not finish within `timeout` seconds."""
        done = threading.Event()

        def flush() -> None:
            self.processor.force_flush()
            done.set()

        threading.Thread(target=flush, name="podium-otlp-flush", daemon=True).start()
        return done.wait(timeout)

    def close(self, timeout: float = 2) -> None:
        """Send what is queued and stop, within about `timeout` seconds, whatever the collector does.

        A collector known to be failing gets nothing more (its retries are cut short); a slow
        one is given `timeout` seconds, and what it has not taken then is dropped.
        """
        if self._closed:
            return
        self._closed = True
        self.guard.closing = True
        if self.guard.failing:
            self.guard.abort()
        # BatchSpanProcessor.shutdown waits up to 30 s for its thread: wait for it on another one
        closer = threading.Thread(target=self.processor.shutdown, name="podium-otlp-close", daemon=True)
        closer.start()
        closer.join(timeout)
        if closer.is_alive():
            self.guard.abort()
            closer.join(0.5)


class LiveExport:
    """A plugin that sends each run's spans to an OTLP/HTTP collector while the run goes, from
    the run's own process.

    It folds each run's events (a `TraceFold` per run id; a resumed run's fold starts at its
    RunResumed and spans that began before are made when their ending events arrive) and hands
    the spans each event ended to a `SpanSender`, whose background thread posts them. A collector
    that is down never fails or slows a run: spans are dropped and a warning (logger ``podium``)
    says so once. Spans still open when it closes (a run waiting for a person) are not sent: they
    are when the run resumes and ends them, with the same ids.

    Folding, converting and encoding spans take the run's own CPU (and GIL), about twice a no-op
    step's time (``make bench``, benchmark 8): use it with a `MemoryStore`, in the library. With a
    SQLite store prefer `podium.trace.follow.FollowExport`, which reads the run's events from the
    store in a process of its own; ``podium run --otlp`` uses that.

    Register it for the runs it should see, and close it after them::

        plugins = load_plugins()
        live = LiveExport(endpoint="http://127.0.0.1:4318")
        plugins.register(live, name="otlp-live")
        try:
            podium.run("flow.yaml", plugins=plugins)
        finally:
            live.close()
            plugins.unregister(live)
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10,
        content: bool = False,
        attributes: AttributesHook | None = None,
        provider_names: Mapping[str, str] | None = None,
        resource_attributes: Mapping[str, Any] | None = None,
        schedule_delay: float = 0.5,
        max_queue_size: int = 2048,
        redactor: Redactor | None = None,
    ) -> None:
        self.sender = SpanSender(
            endpoint, headers=headers, timeout=timeout, resource_attributes=resource_attributes,
            schedule_delay=schedule_delay, max_queue_size=max_queue_size, redactor=redactor,
        )  # fmt: skip
        self.url = self.sender.url
        self.guard = self.sender.guard
        self._fold_options: dict[str, Any] = {
            "content": content,
            "attributes": attributes,
            "provider_names": provider_names,
        }
        self._folds: dict[str, TraceFold] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._failed = False

    @property
    def sent(self) -> int:
        """Spans the collector took so far."""
        return self.sender.sent

    @property
    def dropped(self) -> int:
        """Spans dropped so far (a collector down or too slow for the queue)."""
        return self.sender.dropped

    @hookimpl
    def podium_event(self, event: Event) -> None:
        """Fold the event into its run's spans; queue the spans it ended for the collector."""
        if self._closed:
            return
        try:
            with self._lock:
                fold = self._folds.get(event.run_id)
                if fold is None:
                    fold = self._folds[event.run_id] = TraceFold(**self._fold_options)
                # every span this event ended, the cloud's inner steps and tools included
                ended = fold.feed(event)
                if event.type is EventType.RUN_FINISHED:
                    del self._folds[event.run_id]  # its spans are all ended: free the fold
            self.sender.send(ended)
        except Exception:  # tracing must never fail a run: say once, then keep folding
            if not self._failed:
                self._failed = True
                log.warning(
                    "otlp: live export of run %s failed on %s", event.run_id, event.type, exc_info=True
                )

    def flush(self, timeout: float = 5) -> bool:
        """Send what is queued now; False if it did not finish within `timeout` seconds."""
        return self.sender.flush(timeout)

    def close(self, timeout: float = 2) -> None:
        """Send what is queued and stop, within about `timeout` seconds, whatever the collector does.

        A collector known to be failing gets nothing more (its retries are cut short); a slow
        one is given `timeout` seconds, and what it has not taken then is dropped.
        """
        if self._closed:
            return
        self._closed = True
        self.sender.close(timeout)
        with self._lock:
            self._folds.clear()

    def __enter__(self) -> LiveExport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def live_export_from_settings(
    otlp: bool | str | None,
    *,
    headers: Mapping[str, str] | None = None,
    content: bool = False,
    timeout: float = 10,
    attributes: AttributesHook | None = None,
    provider_names: Mapping[str, str] | None = None,
) -> LiveExport | None:
    """The `LiveExport` that ``podium run --otlp [ENDPOINT]`` (or a setting) asks for, or None.

    `otlp` is False/None (no live export), True or ``""`` (the endpoint from
    ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT``) or a collector's base URL. Bad settings and a missing
    ``podium[otlp]`` extra raise before the run starts.
    """
    if otlp is None or otlp is False:
        return None
    endpoint = otlp if isinstance(otlp, str) and otlp.strip() else None
    return LiveExport(
        endpoint, headers=headers, content=content, timeout=timeout, attributes=attributes,
        provider_names=provider_names,
    )  # fmt: skip
