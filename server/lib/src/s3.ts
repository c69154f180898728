import { S3Client } from '@aws-sdk/client-s3';
import type { S3Settings } from './config.ts';

/**
 * `public`: a client for presigning URLs that people outside the system follow, signed
 * for the address they can reach. Checksums only when required: otherwise a presigned
 * part URL carries the CRC32 of an empty body.
 */
export function createS3Client(settings: S3Settings, options: { public?: boolean } = {}): S3Client {
  return new S3Client({
    endpoint: options.public ? settings.publicEndpoint : settings.endpoint,
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
