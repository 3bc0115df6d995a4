/**
 * OpenTelemetry tracing, off unless `--otlp-endpoint` is set. The stores create their spans
 * through @opentelemetry/api, which is a no-op until a tracer provider is registered here; the
 * SDK and the OTLP exporter are loaded only then, so a server without tracing pays nothing
 * for them. The API's provider is process-wide by design (one per process, as OpenTelemetry
 * defines it): the last server to start tracing in a process owns it.
 */
export interface Tracing {
  /** Flushes the spans not yet exported and unregisters the provider. */
  shutdown(): Promise<void>;
}

export async function startTracing(options: {
  readonly endpoint: string;
  readonly sampleRatio: number;
  readonly serviceName: string;
}): Promise<Tracing> {
  const [{ trace }, sdk, { OTLPTraceExporter }, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const provider = new sdk.BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    // Batches are the unit of sampling: each is a root span (receive → round trip → reply).
    sampler: new sdk.TraceIdRatioBasedSampler(options.sampleRatio),
    spanProcessors: [new sdk.BatchSpanProcessor(new OTLPTraceExporter({ url: options.endpoint }))],
  });
  trace.setGlobalTracerProvider(provider);
  return {
    async shutdown() {
      await provider.shutdown();
      trace.disable();
    },
  };
}
