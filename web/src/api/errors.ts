/** An answer of the API that was not a success, in the shape of ARCHITECTURE.md "Errors". */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds the server asked to wait (429, 503), when it said. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  static async from(response: Response): Promise<ApiError> {
    const retryAfter = Number(response.headers.get('Retry-After'));
    const body = (await response.json().catch(() => undefined)) as { error?: { code?: string; message?: string } } | undefined;
    return new ApiError(
      response.status,
      body?.error?.code ?? 'http_' + response.status,
      body?.error?.message ?? response.statusText ?? `HTTP ${response.status}`,
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
    );
  }
}

/** The network failed before any answer (offline, server gone). */
export class OfflineError extends Error {
  constructor(cause: unknown) {
    super('The server cannot be reached. Check your connection; GoVault retries by itself.', { cause });
    this.name = 'OfflineError';
  }
}

/** A sentence for people: what happened and what to do. */
export function plainMessage(error: unknown): string {
  if (error instanceof OfflineError) return error.message;
  if (!(error instanceof ApiError)) return error instanceof Error ? error.message : String(error);
  switch (error.status) {
    case 429:
      return `Too many requests. Try again in ${error.retryAfterSeconds ?? 60} seconds.`;
    case 503:
      return 'GoVault is briefly unavailable. Try again in a moment.';
    case 413:
      return 'That is larger than this server accepts.';
    case 401:
      return error.code === 'unauthenticated' ? 'Your session has ended. Log in again.' : error.message;
    case 404:
      return 'Not found.';
    default:
      return error.message;
  }
}
