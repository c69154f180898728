import { fileNameProblem } from '@govault/lib';
import { z } from 'zod';

/**
 * A file or shortcut name: the rule the upload service cleans names to (`fileNameProblem`
 * in @govault/lib). Its storable core is also a CHECK in the database (migrations/files).
 */
export const fileName = () =>
  z.string().superRefine((name, ctx) => {
    const problem = fileNameProblem(name);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
