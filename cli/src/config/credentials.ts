import { join } from 'node:path';
import { readJson, writePrivateJson } from './private-file.ts';

export interface Credentials {
  email: string;
  userId: string;
  refreshToken: string;
  /** Kept so that several govault processes share one access token instead of each rotating the refresh token. */
  accessToken?: string;
  accessTokenExpiresAt?: number;
}

interface CredentialsFile {
  /** The server of the last login: used when neither --server nor GOVAULT_SERVER is given. */
  lastServer?: string;
  servers: Record<string, Credentials>;
}

/** Refresh tokens per server, in one file of mode 0600 under the config directory. */
export class CredentialStore {
  private readonly path: string;
  /** Held while a refresh token is rotated, so that two processes never present the same one. */
  readonly lockPath: string;

  constructor(configDir: string) {
    this.path = join(configDir, 'credentials.json');
    this.lockPath = join(configDir, 'credentials.lock');
  }

  async get(server: string): Promise<Credentials | undefined> {
    return (await this.read()).servers[server];
  }

  async lastServer(): Promise<string | undefined> {
    return (await this.read()).lastServer;
  }

  /** Stores `credentials`; a login (`asLast`) also makes `server` the one used when none is named. */
  async save(server: string, credentials: Credentials, asLast = false): Promise<void> {
    const file = await this.read();
    await writePrivateJson(this.path, { lastServer: asLast ? server : file.lastServer, servers: { ...file.servers, [server]: credentials } });
  }

  async forget(server: string): Promise<void> {
    const file = await this.read();
    const { [server]: _forgotten, ...servers } = file.servers;
    await writePrivateJson(this.path, { ...file, servers });
  }

  private async read(): Promise<CredentialsFile> {
    const file = await readJson<CredentialsFile>(this.path);
    return { lastServer: file?.lastServer, servers: file?.servers ?? {} };
  }
}
