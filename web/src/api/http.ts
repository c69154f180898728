import { ApiError, OfflineError } from './errors.ts';
import type { Session } from './session.ts';

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  /** Send the access token (default). Public routes say false. */
  auth?: boolean;
  headers?: Record<string, string>;
}

const RETRIES_ON_503 = 3;

/**
 * The one place the web app calls fetch for the JSON API: adds the access token, renews
 * it once after a 401, waits out a 503 on reads, and turns every failure into an
 * ApiError or an OfflineError.
 */
export class Http {
  constructor(
    private readonly session: Session,
    private readonly base = '',
  ) {}

  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.send(method, path, options);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  /** A successful response, body unread (downloads). */
  async send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const auth = options.auth ?? true;
    let token = auth ? await this.session.currentAccessToken() : undefined;
    for (let attempt = 0; ; attempt++) {
      const response = await this.fetchOnce(method, path, options, token);
      if (response.status === 401 && auth && token && attempt === 0) {
        token = await this.session.renew(token);
        continue;
      }
      const idempotent = method === 'GET' || method === 'HEAD';
      if (response.status === 503 && idempotent && attempt < RETRIES_ON_503) {
        const waitSeconds = Math.min(5, Number(response.headers.get('Retry-After')) || 1);
        await new Promise((resolve) => setTimeout(resolve, waitSeconds * 1000));
        continue;
      }
      if (!response.ok) throw await ApiError.from(response);
      return response;
    }
  }

  private async fetchOnce(method: string, path: string, options: RequestOptions, token: string | undefined): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json', ...options.headers };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    try {
      return await fetch(this.base + path + queryString(options.query), {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
      });
    } catch (error) {
      throw new OfflineError(error);
    }
  }
}

function queryString(query: RequestOptions['query']): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== '') params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : '';
}
