import { randomUUID } from 'node:crypto';
import * as tus from 'tus-js-client';

/** A user of a running GoVault, talking to its gateway over HTTP like any client. */
export interface TestUser {
  id: string;
  email: string;
  accessToken: string;
  auth: { Authorization: string };
}

export async function registerAndLogin(baseUrl: string, displayName = 'Test User', email = `user-${randomUUID()}@example.test`): Promise<TestUser> {
  const password = `pw-${randomUUID()}`;
  const registered = await postJson(`${baseUrl}/api/auth/register`, { email, password, displayName });
  if (registered.status !== 201) throw new Error(`register answered ${registered.status}: ${JSON.stringify(registered.body)}`);
  const login = await postJson(`${baseUrl}/api/auth/login`, { email, password });
  if (login.status !== 200) throw new Error(`login answered ${login.status}: ${JSON.stringify(login.body)}`);
  const accessToken = (login.body as { accessToken: string }).accessToken;
  return { id: (registered.body as { id: string }).id, email, accessToken, auth: { Authorization: `Bearer ${accessToken}` } };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json().catch(() => undefined)) as unknown };
}

export async function getJson<T = unknown>(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers });
  return { status: response.status, body: (await response.json().catch(() => undefined)) as T };
}

/** A whole tus upload with tus-js-client's defaults; resolves with the GoVault-File-Id of the answer that completed it. */
export function uploadWithTus(baseUrl: string, user: TestUser, name: string, bytes: Buffer): Promise<string> {
  let fileId: string | undefined;
  return new Promise((resolve, reject) => {
    new tus.Upload(bytes, {
      endpoint: `${baseUrl}/api/uploads/tus`,
      headers: user.auth,
      metadata: { filename: name, filetype: 'text/plain' },
      onAfterResponse: (_req, res) => {
        fileId = res.getHeader('GoVault-File-Id') ?? fileId;
      },
      onSuccess: () => (fileId ? resolve(fileId) : reject(new Error('no GoVault-File-Id'))),
      onError: reject,
    }).start();
  });
}
