/** PostgreSQL's SQLSTATE of a failed statement, as pg reports it (MikroORM keeps `code`). */
const sqlState = (err: unknown) => (err as { code?: string } | undefined)?.code;

export const isUniqueViolation = (err: unknown) => sqlState(err) === '23505';

/** The row referenced is gone: e.g. the file was deleted between the access check and the insert. */
export const isForeignKeyViolation = (err: unknown) => sqlState(err) === '23503';

/** The file went away (permanently deleted) between the access check and the insert. */
export class MissingFileError extends Error {}
