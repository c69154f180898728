/**
 * What a compose container's settings become when it runs as a local process instead (no
 * Docker engine here): the same environment and command, with only the changes below.
 * Everything that differs between compose and the native run is in this file.
 */

/** Where one compose database lives in the native run: a real PostgreSQL, names suffixed. */
export interface NativeDatabase {
  /** host:port of the real server. */
  address: string;
  /** Appended (`_<suffix>`) to the user and database names, so runs never share a database. */
  suffix: string;
}

export interface NativePlace {
  /** `<compose service>:<container port>` → the host:port it is reached at natively. */
  services: Map<string, string>;
  /**
   * What a loopback address (`localhost:<port>`, `127.0.0.1:<port>`) means here, by port.
   * In an environment value it is a published port as clients on the host reach it
   * (S3_PUBLIC_ENDPOINT, PUBLIC_URL); in a healthcheck, which Docker runs inside the
   * container, one of the container's own ports.
   */
  loopback: Map<number, string>;
  /** Compose's PostgreSQL services by name. */
  databases: Map<string, NativeDatabase>;
  /** Container path → host folder: the service's mounts (subpath included), then its own filesystem. */
  paths: Array<[container: string, host: string]>;
}

const DATABASE_URL = /^postgres(?:ql)?:\/\/([^:@/]*)(:[^@]*)?@([a-z0-9-]+):5432\/([^?/]+)/;
const SERVICE_ADDRESS = /(?<![\w.-])([a-z0-9][a-z0-9-]*):(\d{1,5})(?![\d])/g;
const LOOPBACK_ADDRESS = /(?<![\w.-])(?:localhost|127\.0\.0\.1):(\d{1,5})(?![\d])/g;

/**
 * The rewrite rules, applied to one value (an environment value or a command argument):
 *  1. a database URL `postgres://<user>:<password>@<db service>:5432/<db>` → the real
 *     PostgreSQL, with `<user>_<suffix>` and `<db>_<suffix>` (the password as it is);
 *  2. `<compose service>:<container port>` → 127.0.0.1:<the port it runs on here>;
 *  3. `localhost:<port>` / `127.0.0.1:<port>` → what that loopback port is here (above);
 *  4. a container path (equal to, or under, a mount target or an image folder) → its host
 *     folder, longest container path first, so subpath mounts keep their meaning.
 * The environment-level rules (the service's own *_PORT, HOST) are in nativeEnv.
 */
export function nativeValue(value: string, place: NativePlace): string {
  const database = DATABASE_URL.exec(value);
  const db = database && place.databases.get(database[3]!);
  if (database && db) {
    const [whole, user, password = '', , name] = database;
    return `postgres://${user}_${db.suffix}${password}@${db.address}/${name}_${db.suffix}${value.slice(whole.length)}`;
  }
  let rewritten = value.replace(LOOPBACK_ADDRESS, (whole, port: string) => place.loopback.get(Number(port)) ?? whole);
  rewritten = rewritten.replace(SERVICE_ADDRESS, (whole, host: string, port: string) => place.services.get(`${host}:${port}`) ?? whole);
  for (const [container, host] of [...place.paths].sort((a, b) => b[0].length - a[0].length)) {
    if (rewritten === container || rewritten.startsWith(`${container}/`)) return host + rewritten.slice(container.length);
  }
  return rewritten;
}

/** A container's listen settings: variable → the container port it names (e.g. GATEWAY_PORT → 8080). */
export type ListenVariables = Map<string, number>;

/**
 * The environment of a container as a local process: every value through nativeValue,
 * then the container's own listen variables set to the ports it gets here (`<port>`, or
 * `127.0.0.1:<port>` where the variable holds an address, as versitygw's VGW_PORT does),
 * and HOST=0.0.0.0 (every interface of the container) → 127.0.0.1.
 */
export function nativeEnv(service: string, env: Record<string, string>, listen: ListenVariables, place: NativePlace): Record<string, string> {
  const native = Object.fromEntries(Object.entries(env).map(([name, value]) => [name, nativeValue(value, place)]));
  for (const [variable, containerPort] of listen) {
    const address = place.services.get(`${service}:${containerPort}`);
    if (!address) throw new Error(`${service}:${containerPort} has no native address`);
    const port = address.slice(address.lastIndexOf(':') + 1);
    native[variable] = (env[variable] ?? '').includes(':') ? `127.0.0.1:${port}` : port;
  }
  if (native.HOST === '0.0.0.0') native.HOST = '127.0.0.1';
  return native;
}
