import { fileNameProblem } from '@govault/lib';
import { z } from 'zod';

export const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** Half of a UTF-16 pair on its own: not text (UTF-8 cannot encode it). */
export const LONE_SURROGATE = /\p{Cs}/u;

/**
 * A file or shortcut name: the rule the upload service cleans names to (`fileNameProblem`
 * in @govault/lib). Its storable core is also a CHECK in the database (migrations/files).
 */
export const fileName = () =>
  z.string().superRefine((name, ctx) => {
    const problem = fileNameProblem(name);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
