import { z } from 'zod';

/**
 * A UUID (RFC 9562 text form, no braces) in the form PostgreSQL answers with: lower case,
 * so an id from a request compares equal to the same id from a row.
 */
export const uuid = () => z.uuid().transform((value) => value.toLowerCase());
