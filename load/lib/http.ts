import { randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import type { Recorder } from './recorder.ts';

export interface Answer<T = any> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
}

export interface Session {
  userId: string;
  email: string;
  password: string;
  token: string;
}

/**
 * GoVault's JSON API over one undici connection pool, every call timed under a kind.
 * A call counts as failed when its status is not one of `expect` (default: 2xx).
 */
export class Api {
  readonly agent = new Agent({ connections: 256, keepAliveTimeout: 10_000 });

  constructor(
    readonly baseUrl: string,
    private readonly recorder: Recorder,
  ) {}

  async call<T = any>(kind: string, method: string, path: string, options: { token?: string; body?: unknown; expect?: number[]; signal?: AbortSignal } = {}): Promise<Answer<T>> {
    const expect = options.expect ?? [200, 201, 204];
    return this.recorder.time(
      kind,
      async () => {
        const response = await request(`${this.baseUrl}${path}`, {
          method: method as 'GET',
          dispatcher: this.agent,
          headers: {
            ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
            ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
          signal: options.signal,
        });
        const text = await response.body.text();
        let body: unknown = undefined;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          body = text;
        }
        return { status: response.statusCode, body: body as T, headers: response.headers };
      },
      (answer) => {
        const ok = expect.includes(answer.status);
        if (!ok) this.recorder.error(`${kind} ${method} ${path.split('?')[0]} answered ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`);
        return ok;
      },
    );
  }

  /** Registers a new user (timed as `register`) and logs in (`login`). */
  async newUser(name: string): Promise<Session> {
    const email = `load-${name}-${randomUUID()}@example.test`;
    const password = `pw-${randomUUID()}`;
    const registered = await this.call<{ id: string }>('register', 'POST', '/api/auth/register', { body: { email, password, displayName: name }, expect: [201] });
    if (registered.status !== 201) throw new Error(`register answered ${registered.status}`);
    const token = await this.login(email, password);
    return { userId: registered.body.id, email, password, token };
  }

  async login(email: string, password: string): Promise<string> {
    const login = await this.call<{ accessToken: string }>('login', 'POST', '/api/auth/login', { body: { email, password }, expect: [200] });
    if (login.status !== 200) throw new Error(`login answered ${login.status}`);
    return login.body.accessToken;
  }

  /** The content's bytes (timed as `download`). */
  async download(fileId: string, token: string): Promise<Buffer> {
    return this.recorder.time('download', async () => {
      const response = await request(`${this.baseUrl}/api/files/${fileId}/content`, { dispatcher: this.agent, headers: { authorization: `Bearer ${token}` } });
      if (response.statusCode >= 300 && response.statusCode < 400 && response.headers.location) {
        // S3 mode may redirect to a presigned URL.
        await response.body.dump();
        const presigned = await request(String(response.headers.location), { dispatcher: this.agent });
        if (presigned.statusCode !== 200) throw new Error(`presigned download answered ${presigned.statusCode}`);
        return Buffer.from(await presigned.body.arrayBuffer());
      }
      if (response.statusCode !== 200) {
        await response.body.dump();
        throw new Error(`download answered ${response.statusCode}`);
      }
      return Buffer.from(await response.body.arrayBuffer());
    });
  }

  /** Every file the user owns: name → [{id, size}] (a name seen twice is a duplicate). */
  async ownedFiles(token: string): Promise<Map<string, Array<{ id: string; size: number }>>> {
    const byName = new Map<string, Array<{ id: string; size: number }>>();
    let cursor: string | null = null;
    do {
      const query = `/api/files?view=owned&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page: Answer<{ items: Array<{ id: string; name: string; size: number }>; nextCursor: string | null }> = await this.call('list', 'GET', query, { token });
      if (page.status !== 200) throw new Error(`list answered ${page.status}`);
      for (const item of page.body.items) byName.set(item.name, [...(byName.get(item.name) ?? []), { id: item.id, size: item.size }]);
      cursor = page.body.nextCursor;
    } while (cursor);
    return byName;
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
