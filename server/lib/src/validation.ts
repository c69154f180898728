import type { Context } from 'koa';
import { z } from 'zod';
import { validationFailed } from './errors.ts';

/** Parses with zod; a failure is a 400 listing every problem. */
export function parse<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw validationFailed(
    'Invalid request',
    result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
  );
}

export const parseBody = <S extends z.ZodType>(ctx: Context, schema: S): z.infer<S> =>
  parse(schema, (ctx.request as { body?: unknown }).body);
export const parseQuery = <S extends z.ZodType>(ctx: Context, schema: S): z.infer<S> => parse(schema, ctx.query);

export const uuid = () => z.uuid();
