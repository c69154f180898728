import type { ExternalObjects } from './helm-env.ts';
import { EXTERNAL_VALUES } from './helm.ts';

/** The value sets the tests render the chart with, and the Secrets each expects to exist already. */
export interface ValueSet {
  name: string;
  release: string;
  valuesFiles: string[];
  /** What the operator put in the existingSecrets these values name (plausible values, not real ones). */
  existing: ExternalObjects;
}

export const DEFAULT_VALUES: ValueSet = {
  name: 'default values',
  release: 'govault',
  valuesFiles: [],
  existing: { 'govault-s3': { S3_ACCESS_KEY_ID: 'AKIAEXAMPLEEXAMPLE', S3_SECRET_ACCESS_KEY: 'example-secret-access-key' } },
};

export const EXTERNAL_EVERYTHING: ValueSet = {
  name: 'external-everything values',
  release: 'prod',
  valuesFiles: [EXTERNAL_VALUES],
  existing: {
    'govault-databases': {
      'auth-url': 'postgres://govault_auth:example@db.example.internal:5432/govault_auth?sslmode=require',
      'upload-url': 'postgres://govault_upload:example@db.example.internal:5432/govault_upload?sslmode=require',
      'files-url': 'postgres://govault_files:example@db.example.internal:5432/govault_files?sslmode=require',
    },
    'govault-s3': { 'access-key-id': 'AKIAEXAMPLEEXAMPLE', 'secret-access-key': 'example-secret-access-key' },
    'govault-redis': { url: 'rediss://:example@redis.example.internal:6380/0' },
  },
};

export const VALUE_SETS = [DEFAULT_VALUES, EXTERNAL_EVERYTHING];

export const SERVICES = ['gateway', 'auth', 'upload', 'files'] as const;
export type Service = (typeof SERVICES)[number];

export const SERVICE_PORTS: Record<Service, number> = { gateway: 8080, auth: 8081, upload: 8082, files: 8083 };

/** Who calls whom (ARCHITECTURE.md): the pods each service's NetworkPolicy must let in, and no others. */
export const CALLERS: Record<Service, Service[] | 'anyone'> = {
  gateway: 'anyone',
  auth: ['gateway', 'files'],
  files: ['gateway', 'upload'],
  upload: ['gateway'],
};
