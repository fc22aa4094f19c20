"""OpenTelemetry spans (tracer `bfstats.sqlite_analytics`), silent unless OTEL is configured.

Spans are exported only when the standard variables ask for it: `OTEL_EXPORTER_OTLP_ENDPOINT`
or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (OTLP over HTTP), or `OTEL_TRACES_EXPORTER=console`.
Otherwise the API's no-op tracer is used and nothing is printed or sent.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager

from opentelemetry import trace

TRACER_NAME = "bfstats.sqlite_analytics"
_configured = False
_lock = threading.Lock()


def _exporter():
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    choice = os.environ.get("OTEL_TRACES_EXPORTER", "").lower()
    if choice == "none":
        return None
    if choice == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if (
        choice == "otlp"
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    return None


def tracer() -> trace.Tracer:
    global _configured
    with _lock:
        if not _configured:
            _configured = True
            exporter = _exporter()
            if exporter is not None:
                from opentelemetry.sdk.resources import Resource
                from opentelemetry.sdk.trace import TracerProvider
                from opentelemetry.sdk.trace.export import BatchSpanProcessor

                resource = Resource.create(
                    {"service.name": os.environ.get("OTEL_SERVICE_NAME", "bfstats-backfill")}
                )
                provider = TracerProvider(resource=resource)
                provider.add_span_processor(BatchSpanProcessor(exporter))
                trace.set_tracer_provider(provider)
    return trace.get_tracer(TRACER_NAME)


class SpanResult:
    """What a span reports when it ends; set `row_count` before leaving the block."""

    def __init__(self) -> None:
        self.row_count = 0


@contextmanager
def span(name: str, *, query_name: str, table: str):
    """A span with the SPEC's attributes: query.name, result.table, result.row_count,
    result.duration_ms."""
    started = time.perf_counter()
    result = SpanResult()
    with tracer().start_as_current_span(name) as current:
        current.set_attribute("query.name", query_name)
        current.set_attribute("result.table", table)
        try:
            yield result
        finally:
            current.set_attribute("result.row_count", result.row_count)
            current.set_attribute(
                "result.duration_ms", round((time.perf_counter() - started) * 1000, 3)
            )


class LongSpan:
    """A span that outlives the code block that starts it (a service's span runs from the plan
    to its last check, across the flow's task threads); steps run `inside()` it."""

    def __init__(self, name: str, *, query_name: str, table: str):
        self._started = time.perf_counter()
        self._span = tracer().start_span(name)
        self._span.set_attribute("query.name", query_name)
        self._span.set_attribute("result.table", table)

    @contextmanager
    def inside(self):
        with trace.use_span(self._span, end_on_exit=False):
            yield

    def end(self, row_count: int) -> None:
        self._span.set_attribute("result.row_count", row_count)
        self._span.set_attribute(
            "result.duration_ms", round((time.perf_counter() - self._started) * 1000, 3)
        )
        self._span.end()


def flush() -> None:
    provider = trace.get_tracer_provider()
    if hasattr(provider, "force_flush"):
        provider.force_flush()
