import { S3Client } from '@aws-sdk/client-s3';
import { Histogram, type Registry } from 'prom-client';
import type { S3Settings } from './config.ts';

/** `govault_s3_request_duration_seconds{operation,outcome}`: one histogram per service registry. */
export type S3RequestMetrics = Histogram<'operation' | 'outcome'>;

export function createS3Metrics(registry: Registry): S3RequestMetrics {
  return new Histogram({
    name: 'govault_s3_request_duration_seconds',
    help: 'S3 requests by operation (the SDK command without "Command") and outcome (ok, error)',
    labelNames: ['operation', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
}

/** Anything with the AWS SDK v3 middleware stack: an S3Client, or the aggregated `S3` that @tus/s3-store builds. */
interface HasMiddlewareStack {
  middlewareStack: Pick<S3Client['middlewareStack'], 'add'>;
}

/**
 * Times every request the client sends to S3. In the deserialize step, which wraps the
 * HTTP exchange itself: each attempt is one request (the SDK's retries sit outside it),
 * and presigning never gets this far (the presigner stops before signing), so presigned
 * URLs, which are not requests, are not counted.
 */
export function instrumentS3Client<T extends HasMiddlewareStack>(client: T, metrics: S3RequestMetrics): T {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = (context.commandName ?? 'Unknown').replace(/Command$/, '');
      const stop = metrics.startTimer({ operation });
      try {
        const output = await next(args);
        stop({ outcome: 'ok' });
        return output;
      } catch (err) {
        stop({ outcome: 'error' });
        throw err;
      }
    },
    { step: 'deserialize', priority: 'high', name: 'govaultS3RequestMetrics' },
  );
  return client;
}

/**
 * `public`: a client for presigning URLs that people outside the system follow, signed
 * for the address they can reach. Checksums only when required: otherwise a presigned
 * part URL carries the CRC32 of an empty body. `metrics`: time every request it sends.
 */
export function createS3Client(settings: S3Settings, options: { public?: boolean; metrics?: S3RequestMetrics } = {}): S3Client {
  const client = new S3Client({
    endpoint: options.public ? settings.publicEndpoint : settings.endpoint,
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return options.metrics ? instrumentS3Client(client, options.metrics) : client;
}
