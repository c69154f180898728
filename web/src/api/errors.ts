/** One problem of a 400 answer: the field (`name`, `password`) and what is wrong with it. */
export interface FieldProblem {
  path: string;
  message: string;
}

/** An answer of the API that was not a success, in the shape of ARCHITECTURE.md "Errors". */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds the server asked to wait (429, 503), when it said. */
    readonly retryAfterSeconds?: number,
    /** The fields a validation_failed answer names. */
    readonly problems: FieldProblem[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }

  static async from(response: Response): Promise<ApiError> {
    const retryAfter = Number(response.headers.get('Retry-After'));
    const body = (await response.json().catch(() => undefined)) as
      | { error?: { code?: string; message?: string; details?: unknown } }
      | undefined;
    return new ApiError(
      response.status,
      body?.error?.code ?? 'http_' + response.status,
      body?.error?.message || response.statusText || `HTTP ${response.status}`,
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
      fieldProblems(body?.error?.details),
    );
  }
}

/** The network failed before any answer (offline, server gone). */
export class OfflineError extends Error {
  constructor(cause: unknown) {
    super('The server cannot be reached. Check your connection and try again.', { cause });
    this.name = 'OfflineError';
  }
}

/** The server refused the refresh token (a 401 still): this browser is signed out. */
export class SessionEndedError extends ApiError {
  constructor() {
    super(401, 'unauthenticated', 'Your session has ended. Log in again.');
    this.name = 'SessionEndedError';
  }
}

/** A sentence for people: what happened and what to do. */
export function plainMessage(error: unknown): string {
  if (error instanceof OfflineError || error instanceof SessionEndedError) return error.message;
  if (!(error instanceof ApiError)) return error instanceof Error ? error.message : String(error);
  switch (error.status) {
    case 400:
      return error.problems.length > 0 ? error.problems.map(sentence).join(' ') : error.message;
    case 413:
      return 'That is larger than this server accepts.';
    case 429:
      return `Too many requests. Try again in ${waitText(error.retryAfterSeconds ?? 60)}.`;
    case 503:
      return 'GoVault is briefly unavailable. Try again in a moment.';
    case 404:
      return 'Not found. It may have been deleted, or it is no longer shared with you.';
    default:
      return asSentence(error.message);
  }
}

const FIELD_NAMES: Record<string, string> = { name: 'Name', email: 'Email', password: 'Password', displayName: 'Display name' };

function sentence({ path, message }: FieldProblem): string {
  // Zod's own messages are sentences ("Invalid email address"); GoVault's rules are predicates ("must be ...").
  const subject = FIELD_NAMES[path] ?? 'It';
  return asSentence(/^[a-z]/.test(message) ? `${subject} ${message}` : message);
}

function asSentence(text: string): string {
  const capital = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

function waitText(seconds: number): string {
  if (seconds < 90) return seconds === 1 ? '1 second' : `${seconds} seconds`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minutes`;
}

function fieldProblems(details: unknown): FieldProblem[] {
  if (!Array.isArray(details)) return [];
  return details.filter(
    (d): d is FieldProblem => typeof d === 'object' && d !== null && typeof d.path === 'string' && typeof d.message === 'string',
  );
}
