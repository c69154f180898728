import { CliError, ExitCode } from '../errors.ts';
import { isRetryableStatus, retryDelayMs, sleep, type RetryPolicy } from './retry.ts';

export interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** Statuses the caller handles itself instead of an error (e.g. 404 for "is it there?"). */
  accept?: number[];
}

export interface JsonResponse<T> {
  status: number;
  headers: Headers;
  body: T;
}

/** The JSON error shape of every GoVault service. */
interface ErrorBody {
  error?: { code?: string; message?: string };
}

/**
 * HTTP to one GoVault server: JSON in and out, network errors and "not now" answers
 * (423, 429, 503, ...) tried again within the retry policy, every other failure a
 * CliError that says what happened.
 */
export class HttpClient {
  constructor(
    readonly server: string,
    private readonly retry: RetryPolicy,
  ) {}

  url(path: string): string {
    return new URL(path, this.server).toString();
  }

  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<JsonResponse<T>> {
    const response = await this.send(method, this.url(path), {
      method,
      headers: { accept: 'application/json', ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await response.text();
    const body = text ? parseJson(text) : undefined;
    if (response.ok || options.accept?.includes(response.status)) return { status: response.status, headers: response.headers, body: body as T };
    throw answerError(response.status, body as ErrorBody | undefined, method, path);
  }

  /** A raw request (downloads, part PUTs) with the same retries; the caller reads the body. */
  async send(method: string, url: string, init: RequestInit): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        response = await fetch(url, { ...init, method });
      } catch (err) {
        if (attempt >= this.retry.retries || !(IDEMPOTENT.has(method) || neverDelivered(err))) throw unreachable(this.server, err);
        await sleep(retryDelayMs(this.retry, attempt));
        continue;
      }
      const again = IDEMPOTENT.has(method) ? isRetryableStatus(response.status) : NOT_PROCESSED.has(response.status);
      if (!again || attempt >= this.retry.retries) return response;
      await response.body?.cancel();
      await sleep(retryDelayMs(this.retry, attempt, response.headers.get('retry-after')));
    }
  }
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
/** Answers that say the request was not carried out, so that even a POST may be sent again. */
const NOT_PROCESSED = new Set([423, 429, 503]);
const neverDelivered = (err: unknown) => (err as { cause?: { code?: string } })?.cause?.code === 'ECONNREFUSED';

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function unreachable(server: string, cause: unknown): CliError {
  const reason = (cause as { cause?: { code?: string } })?.cause?.code ?? (cause as Error)?.message ?? 'no answer';
  return new CliError(`Cannot reach the GoVault server at ${server} (${reason}). Check that it is running and that --server or GOVAULT_SERVER names it.`, ExitCode.failed, { cause });
}

/** What the server said, as a sentence a person can act on. */
export function answerError(status: number, body: ErrorBody | undefined, method: string, path: string): CliError {
  const said = body?.error?.message ?? `the server answered ${status}`;
  if (status === 401) return new CliError(`The server refused the credentials (${said}). Run \`govault login\` again.`, ExitCode.notSignedIn);
  if (status === 404) return new CliError(`${said.charAt(0).toUpperCase()}${said.slice(1)}: check the id with \`govault ls\`.`);
  if (status === 413) return new CliError(`Too large for this server: ${said}.`);
  if (status === 429 || status === 503) return new CliError(`The server is busy or restarting (${said}); try again in a moment.`);
  return new CliError(`${method} ${path} failed: ${said} (HTTP ${status}).`);
}
