"""OpenTelemetry traces of the services' calls (opentelemetry-instrumentation-grpc), exported as the standard OTEL_*
variables say; off, at no cost per call, unless OTEL_TRACES_EXPORTER names an exporter."""
import os

from opentelemetry import trace
from opentelemetry.distro import OpenTelemetryConfigurator
from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor, filters
from opentelemetry.sdk.environment_variables import OTEL_SDK_DISABLED
from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector

# gRPC's own services (health, which Envoy and Kubernetes probe every few seconds, and reflection) make no spans.
OUR_SERVICES = filters.negate(filters.service_prefix('grpc.'))


def configure(service_name):
    """The process's TracerProvider, set up by the OpenTelemetry SDK's own configurator from the OTEL_* variables
    (exporters, OTEL_EXPORTER_OTLP_*, OTEL_BSP_*, sampler, resource) with `service_name` unless OTEL_SERVICE_NAME
    or OTEL_RESOURCE_ATTRIBUTES names one; None when OTEL_TRACES_EXPORTER names no exporter (the default) or
    OTEL_SDK_DISABLED is true. Call it in each worker process after the fork: the batch processor's export thread
    does not survive one. ValueError for an exporter that is not installed."""
    exporters = os.environ.get(OTEL_TRACES_EXPORTER, '').strip().lower()
    if exporters in ('', 'none') or os.environ.get(OTEL_SDK_DISABLED, '').strip().lower() == 'true':
        return None
    named = SERVICE_NAME in OTELResourceDetector().detect().attributes
    try:
        OpenTelemetryConfigurator().configure(resource_attributes={} if named else {SERVICE_NAME: service_name})
    except RuntimeError as error:  # the SDK's word for an exporter or protocol it cannot find
        raise ValueError(f'{OTEL_TRACES_EXPORTER}={exporters}: {error}') from None
    return trace.get_tracer_provider()


def server_interceptors(tracer_provider):
    """The interceptor that makes a server span of each call to our services, continuing the caller's trace (W3C
    traceparent); none without a tracer provider."""
    return [aio_server_interceptor(tracer_provider, filter_=OUR_SERVICES)] if tracer_provider else []


def client_interceptors(tracer_provider):
    """Interceptors for a grpc.aio channel: a client span per call, its context passed on in traceparent."""
    return aio_client_interceptors(tracer_provider) if tracer_provider else []


def shut_down(tracer_provider):
    """Export the spans still held: a worker ends with os._exit, which skips the SDK's own atexit hook."""
    if tracer_provider:
        tracer_provider.shutdown()


def current_trace_id():
    """The trace id of the span being served, as 32 hex digits; None when the call is not traced."""
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None
