import type { Command } from 'commander';
import { GovaultApi } from './api/govault-api.ts';
import { HttpClient } from './api/http.ts';
import { DEFAULT_RETRY, type RetryPolicy } from './api/retry.ts';
import { Session } from './api/session.ts';
import { CredentialStore } from './config/credentials.ts';
import { cliPaths } from './config/paths.ts';
import { usageError } from './errors.ts';
import type { Reporter } from './output/events.ts';
import { BarReporter, JsonReporter, LineReporter } from './output/reporters.ts';
import { ResumeStore } from './upload/resume-store.ts';

export const DEFAULT_SERVER = 'http://localhost:8080';

/** The options every command takes (they may follow the command). */
export interface GlobalOptions {
  server?: string;
  json?: boolean;
  retries: number;
}

export interface Terminal {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream;
}

/** The CLI's composition root: the one place that builds stores, clients and reporters. */
export class CliContext {
  readonly credentials: CredentialStore;
  readonly resumeStore: ResumeStore;

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    readonly terminal: Terminal,
  ) {
    const paths = cliPaths(env);
    this.credentials = new CredentialStore(paths.configDir);
    this.resumeStore = new ResumeStore(paths.stateDir);
  }

  static globals(command: Command): GlobalOptions {
    return command.optsWithGlobals<GlobalOptions>();
  }

  /** `--server` beats GOVAULT_SERVER, which beats the server of the last login, which beats the default. */
  async server(globals: GlobalOptions): Promise<string> {
    const chosen = globals.server ?? this.env.GOVAULT_SERVER ?? (await this.credentials.lastServer()) ?? DEFAULT_SERVER;
    let url: URL;
    try {
      url = new URL(chosen);
    } catch {
      throw usageError(`${chosen} is not a server URL; give one such as ${DEFAULT_SERVER}.`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError(`${chosen}: the server URL must start with http:// or https://.`);
    return url.origin + url.pathname.replace(/\/+$/, '');
  }

  retry(globals: GlobalOptions): RetryPolicy {
    return { ...DEFAULT_RETRY, retries: globals.retries };
  }

  async http(globals: GlobalOptions): Promise<HttpClient> {
    return new HttpClient(await this.server(globals), this.retry(globals));
  }

  async api(globals: GlobalOptions): Promise<GovaultApi> {
    return new GovaultApi(new Session(await this.http(globals), this.credentials));
  }

  /** `files` > 1 adds a total bar on a terminal. */
  reporter(globals: GlobalOptions, totalBytes: number, files: number): Reporter {
    if (globals.json) return new JsonReporter(this.terminal.stdout);
    if (this.terminal.stdout.isTTY) return new BarReporter(totalBytes, files > 1, this.terminal.stdout);
    return new LineReporter(this.terminal.stdout, this.terminal.stderr);
  }

  /** Output for scripts (`--json`: one object per line) or for people. */
  out(globals: GlobalOptions, value: unknown, forPeople: () => string): void {
    this.terminal.stdout.write(globals.json ? `${JSON.stringify(value)}\n` : `${forPeople()}\n`);
  }

  /**
   * Runs a transfer so that Ctrl-C gives the terminal back from the progress bars and says
   * how to go on; the saved state (upload URL, .part file) lets the same command resume.
   */
  async interruptible<T>(reporter: Reporter, work: () => Promise<T>): Promise<T> {
    const interrupted = () => {
      reporter.close();
      this.say('\nInterrupted. Run the same command again to resume where it stopped.');
      process.exit(130);
    };
    process.once('SIGINT', interrupted);
    try {
      return await work();
    } finally {
      process.off('SIGINT', interrupted);
      reporter.close();
    }
  }

  /** A message for people; never on stdout, which belongs to results. */
  say(text: string): void {
    this.terminal.stderr.write(`${text}\n`);
  }
}
