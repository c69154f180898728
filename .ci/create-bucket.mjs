#!/usr/bin/env node
// Creates the CI bucket on the S3 server named by S3_ENDPOINT / S3_BUCKET /
// S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY (S3_REGION, default us-east-1), then tries to
// give it a CORS rule that exposes ETag (browser multipart uploads need it). A server
// that refuses PutBucketCors only gets a note: the bucket is still usable.
import {
  CreateBucketCommand,
  GetBucketCorsCommand,
  PutBucketCorsCommand,
  S3Client,
} from '@aws-sdk/client-s3';

// The AWS SDK warns once that its releases after January 2027 need Node 22: noise here.
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (!String(w.message).startsWith('NodeVersionSupportWarning')) console.warn(`${w.name}: ${w.message}`);
});

const { S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY } = process.env;
if (!S3_ENDPOINT || !S3_BUCKET || !S3_ACCESS_KEY_ID || !S3_SECRET_ACCESS_KEY) {
  console.error('create-bucket: S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set');
  process.exit(2);
}

const s3 = new S3Client({
  endpoint: S3_ENDPOINT,
  region: process.env.S3_REGION ?? 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: S3_ACCESS_KEY_ID, secretAccessKey: S3_SECRET_ACCESS_KEY },
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});

try {
  await s3.send(new CreateBucketCommand({ Bucket: S3_BUCKET }));
  console.log(`bucket ${S3_BUCKET} created`);
} catch (error) {
  if (error.name === 'BucketAlreadyOwnedByYou') console.log(`bucket ${S3_BUCKET} already exists`);
  else {
    console.error(`create-bucket: CreateBucket ${S3_BUCKET} failed: ${error.name}: ${error.message}`);
    process.exit(1);
  }
}

try {
  await s3.send(new PutBucketCorsCommand({
    Bucket: S3_BUCKET,
    CORSConfiguration: {
      CORSRules: [{
        AllowedOrigins: ['*'],
        AllowedMethods: ['GET', 'PUT', 'POST', 'HEAD', 'DELETE'],
        AllowedHeaders: ['*'],
        ExposeHeaders: ['ETag'],
        MaxAgeSeconds: 3600,
      }],
    },
  }));
  const cors = await s3.send(new GetBucketCorsCommand({ Bucket: S3_BUCKET }));
  const exposed = cors.CORSRules?.flatMap((rule) => rule.ExposeHeaders ?? []) ?? [];
  console.log(`bucket CORS set (exposes: ${exposed.join(', ') || 'nothing'})`);
} catch (error) {
  console.log(`note: PutBucketCors not supported here (${error.name}: ${error.message}); continuing without bucket CORS`);
}
