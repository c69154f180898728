import type { Context } from 'koa';
import { z } from 'zod';
import { validationFailed } from './errors.ts';
import { hasControlCharacter, hasLoneSurrogate } from './text.ts';

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

/** Refuses text with lone surrogates or control characters: bad text is a 400 before it reaches bcrypt or a database. */
export function withCleanText<S extends z.ZodType<string>>(schema: S): S {
  return schema
    .refine((v) => !hasLoneSurrogate(v), 'must not contain unpaired surrogates')
    .refine((v) => !hasControlCharacter(v), 'must not contain control characters');
}

/** A string field that is well-formed Unicode without control characters. */
export const cleanText = () => withCleanText(z.string());
