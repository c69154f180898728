import { z } from 'zod';

export const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * A file or shortcut name: 1..255 characters, no control characters, no path separators,
 * not "." or "..". The same rule is a CHECK in the database (migrations/files/002).
 */
export const fileName = () =>
  z
    .string()
    .min(1)
    .max(255)
    .refine((name) => !CONTROL.test(name), 'must not contain control characters')
    .refine((name) => !/[/\\]/.test(name), 'must not contain / or \\')
    .refine((name) => name !== '.' && name !== '..', 'must not be . or ..');
