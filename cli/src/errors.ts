/** The exit codes of the contract (ARCHITECTURE.md, "CLI"). */
export const ExitCode = {
  done: 0,
  failed: 1,
  usage: 2,
  notSignedIn: 3,
  someFailed: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error for people: `message` says what happened and what to do. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.failed,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const usageError = (message: string) => new CliError(message, ExitCode.usage);
export const notSignedIn = (server: string) =>
  new CliError(`Not signed in to ${server}. Run \`govault login --server ${server}\` first.`, ExitCode.notSignedIn);
