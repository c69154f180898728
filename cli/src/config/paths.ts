import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where the CLI keeps things, by the XDG base directory rules. */
export interface CliPaths {
  /** Credentials (mode 0600): `$XDG_CONFIG_HOME/govault`. */
  configDir: string;
  /** Resumable-upload state: `$XDG_STATE_HOME/govault`. */
  stateDir: string;
}

export function cliPaths(env: NodeJS.ProcessEnv): CliPaths {
  const home = env.HOME || homedir();
  const base = (variable: string, fallback: string) => {
    const value = env[variable];
    // "All paths set in these environment variables must be absolute. If an implementation
    // encounters a relative path in any of these variables it should consider the path invalid."
    return value && value.startsWith('/') ? value : join(home, fallback);
  };
  return {
    configDir: join(base('XDG_CONFIG_HOME', '.config'), 'govault'),
    stateDir: join(base('XDG_STATE_HOME', '.local/state'), 'govault'),
  };
}
