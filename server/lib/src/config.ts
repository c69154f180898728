import { z } from 'zod';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Parses the environment once; every bad variable is reported together. */
export function parseConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join('.') || '(environment)';
    return `${name}: ${issue.message}`;
  });
  throw new ConfigError(problems);
}

/** Loads config in main.ts: prints the problems and exits non-zero when the environment is bad. */
export function loadConfigOrExit<S extends z.ZodType>(schema: S, env = process.env): z.infer<S> {
  try {
    return parseConfig(schema, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

const emptyToUndefined = (value: unknown) => (value === '' ? undefined : value);

export const env = {
  port: (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback),
  host: () => z.string().min(1).default('127.0.0.1'),
  url: () => z.preprocess(emptyToUndefined, z.url()),
  optionalUrl: () => z.preprocess(emptyToUndefined, z.url().optional()),
  optionalString: () => z.preprocess(emptyToUndefined, z.string().min(1).optional()),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  boolean: (fallback: boolean) =>
    z
      .preprocess(emptyToUndefined, z.enum(['true', 'false', '1', '0']).optional())
      .transform((v) => (v === undefined ? fallback : v === 'true' || v === '1')),
  seconds: (fallback: number) => z.coerce.number().int().positive().default(fallback),
};

/** S3 settings shared by the services that touch objects; all-or-nothing. */
export const s3EnvSchema = z
  .object({
    S3_ENDPOINT: env.optionalUrl(),
    S3_PUBLIC_ENDPOINT: env.optionalUrl(),
    S3_BUCKET: env.optionalString(),
    S3_REGION: z.string().default('us-east-1'),
    S3_ACCESS_KEY_ID: env.optionalString(),
    S3_SECRET_ACCESS_KEY: env.optionalString(),
    S3_FORCE_PATH_STYLE: env.boolean(true),
  })
  .superRefine((v, ctx) => {
    const needed = ['S3_ENDPOINT', 'S3_BUCKET', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'] as const;
    const given = needed.filter((k) => v[k] !== undefined);
    if (given.length > 0 && given.length < needed.length) {
      for (const k of needed.filter((k) => v[k] === undefined)) {
        ctx.addIssue({ code: 'custom', path: [k], message: `required when ${given.join(', ')} is set` });
      }
    }
  });

export interface S3Settings {
  endpoint: string;
  publicEndpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
}

export function s3Settings(v: z.infer<typeof s3EnvSchema>): S3Settings | undefined {
  if (!v.S3_ENDPOINT || !v.S3_BUCKET || !v.S3_ACCESS_KEY_ID || !v.S3_SECRET_ACCESS_KEY) return undefined;
  return {
    endpoint: v.S3_ENDPOINT,
    publicEndpoint: v.S3_PUBLIC_ENDPOINT ?? v.S3_ENDPOINT,
    bucket: v.S3_BUCKET,
    region: v.S3_REGION,
    accessKeyId: v.S3_ACCESS_KEY_ID,
    secretAccessKey: v.S3_SECRET_ACCESS_KEY,
    forcePathStyle: v.S3_FORCE_PATH_STYLE,
  };
}
