import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { parse as parseYaml } from 'yaml';
import {
  COMPOSE_FILE,
  ENV_EXAMPLE,
  GoMissingError,
  REPO_ROOT,
  commandWord,
  exposedPorts,
  govaultServices,
  loadComposeProject,
  serviceEnv,
  type ComposeProject,
  type ComposeService,
} from '../src/compose.ts';
import { checkContainerEnv, listeningPorts, readEnvFile, variableReferences } from '../src/compose-wiring.ts';
import { SERVICE_SCHEMAS, type DeployedService } from '../src/service-env.ts';
import { suiteUnavailable } from './unavailable.ts';

/**
 * compose.yaml's wiring, read from the project compose-go resolves with .env.example
 * (what `cp .env.example .env && docker compose up` runs), every profile on.
 */
const loaded = (() => {
  try {
    return { project: loadComposeProject() };
  } catch (err) {
    if (err instanceof GoMissingError) return { missing: err.message };
    throw err;
  }
})();

if (!loaded.project) {
  suiteUnavailable('compose wiring', loaded.missing!);
} else {
  wiringTests(loaded.project);
}

const isService = (word: string): word is DeployedService => Object.hasOwn(SERVICE_SCHEMAS, word);
const ONE_SHOT_JOBS = ['keys', 'create-bucket', 'smoke'];
/** Services allowed to publish a port, and the one container port each publishes. */
const PUBLISHED = { gateway: 8080, s3: 7070, grafana: 3000 } as Record<string, number>;
const SECRET_NAME = /PASSWORD|SECRET|ACCESS_KEY|TOKEN|_KEY$/;

function wiringTests(project: ComposeProject): void {
  const services = Object.entries(project.services);
  const govault = govaultServices(project);
  const byWord = (word: string) => govault.filter(([, service]) => commandWord(service) === word);

  test('the GoVault containers are the four services (two upload instances) and the three jobs, all of one image', (t) => {
    const words = govault.map(([name, service]) => `${name}=${commandWord(service)}`).sort();
    t.deepEqual(words, ['auth=auth', 'create-bucket=create-bucket', 'files=files', 'gateway=gateway', 'keys=keys', 'smoke=smoke', 'upload-1=upload', 'upload-2=upload']);
    for (const [name, service] of govault) {
      t.is(service.image, 'govault:latest', name);
      t.is(service.build?.context.replace(/\/$/, ''), REPO_ROOT.replace(/\/$/, ''), `${name} builds the repository's Dockerfile`);
    }
  });

  test("every variable each GoVault container gets is one its schema reads, and the whole environment parses", (t) => {
    for (const [name, service] of govault) {
      const check = checkContainerEnv(commandWord(service), serviceEnv(service));
      t.deepEqual(check, { unknown: [], problems: [] }, name);
    }
  });

  test('every depends_on target has a healthcheck, or is a one-shot job waited for until it succeeded', (t) => {
    for (const [name, service] of services) {
      for (const [target, dependency] of Object.entries(service.depends_on ?? {})) {
        const other = project.services[target];
        t.truthy(other, `${name} depends on ${target}`);
        const job = other?.image === 'govault:latest' && ONE_SHOT_JOBS.includes(commandWord(other));
        if (job) {
          t.is(dependency.condition, 'service_completed_successfully', `${name} → ${target} (a job)`);
          t.is(other.restart, 'no', `${target} runs once`);
        } else {
          t.is(dependency.condition, 'service_healthy', `${name} → ${target}`);
          t.true((other?.healthcheck?.test?.length ?? 0) > 1 && !other?.healthcheck?.disable, `${target} has a healthcheck`);
        }
      }
    }
  });

  test('long-running services restart unless stopped; jobs do not', (t) => {
    for (const [name, service] of services) {
      const job = service.image === 'govault:latest' && ONE_SHOT_JOBS.includes(commandWord(service));
      t.is(service.restart, job ? 'no' : 'unless-stopped', name);
    }
  });

  test('each GoVault service is checked by the dispatcher healthcheck on the port its config listens on', (t) => {
    for (const [name, service] of govault) {
      const word = commandWord(service);
      if (!isService(word)) continue;
      const [port] = listeningPorts(word, serviceEnv(service));
      t.deepEqual(service.healthcheck?.test, ['CMD', 'node', '--import', 'tsx', 'server/launcher/src/image/main.ts', 'healthcheck', `http://127.0.0.1:${port}/healthz`], name);
      t.deepEqual(exposedPorts(service), listeningPorts(word, serviceEnv(service)), `${name} exposes what it listens on`);
    }
  });

  test('only the gateway, S3 (presigned URLs) and Grafana publish a port, on 127.0.0.1 by default', (t) => {
    const publishing = services.filter(([, service]) => (service.ports ?? []).length > 0).map(([name]) => name).sort();
    t.deepEqual(publishing, Object.keys(PUBLISHED).sort());
    for (const name of publishing) {
      const ports = project.services[name]!.ports!;
      t.is(ports.length, 1, name);
      t.is<number | undefined, number | undefined>(ports[0]!.target, PUBLISHED[name], name);
      t.is(ports[0]!.host_ip, '127.0.0.1', `${name} is published on loopback only`);
    }
  });

  test('every address a service is given names a compose service on a port it listens on', (t) => {
    for (const [name, service] of services) {
      for (const [variable, value] of Object.entries(serviceEnv(service))) {
        for (const match of value.matchAll(/\/\/(?:[^@/\s]*@)?([a-z0-9-]+):(\d+)/g)) {
          const [, host, port] = match;
          if (host === 'localhost') continue; // a published port, as clients outside see it
          const target = project.services[host!];
          t.truthy(target, `${name} ${variable}: ${host} is a compose service`);
          if (target) t.true(listensOn(host!, target).includes(Number(port)), `${name} ${variable}: ${host} listens on ${port}`);
        }
      }
    }
  });

  // The native run cannot tell these apart from service addresses (both become loopback
  // there), so they are checked here: a browser outside compose resolves no service name.
  test('addresses handed to clients outside compose are the published ports, not service names', (t) => {
    const published = (name: string) => {
      const [port] = project.services[name]!.ports!;
      return `localhost:${port!.published}`;
    };
    const gateway = serviceEnv(project.services.gateway!);
    t.is(new URL(gateway.PUBLIC_URL!).host, published('gateway'), 'PUBLIC_URL');
    for (const [name, service] of services) {
      const endpoint = serviceEnv(service).S3_PUBLIC_ENDPOINT;
      if (endpoint !== undefined) t.is(new URL(endpoint).host, published('s3'), `${name} S3_PUBLIC_ENDPOINT`);
    }
    t.true(byWord('upload').every(([, s]) => serviceEnv(s).S3_PUBLIC_ENDPOINT) && serviceEnv(project.services.files!).S3_PUBLIC_ENDPOINT !== undefined);
    const origins = serviceEnv(project.services['create-bucket']!).CORS_ALLOWED_ORIGINS!.split(',');
    t.true(origins.includes(new URL(gateway.PUBLIC_URL!).origin), `the bucket's CORS rule lets the web app's origin in (${origins.join(', ')})`);
  });

  // Also beyond what the native run can see: inside compose, localhost is the container itself.
  test('the smoke job can follow what the gateway hands out from inside compose', (t) => {
    const smoke = project.services.smoke!;
    const env = serviceEnv(smoke);
    const gateway = serviceEnv(project.services.gateway!);
    const smokeUrl = new URL(env.SMOKE_URL!);
    t.is(smokeUrl.host, 'gateway:8080');
    t.true(gateway.PUBLIC_HOSTS!.split(',').includes(smokeUrl.host), "tus upload URLs keep the gateway's service name for the smoke job (PUBLIC_HOSTS)");
    const s3Public = new URL(serviceEnv(project.services.files!).S3_PUBLIC_ENDPOINT!);
    t.is(env.SMOKE_CONNECT_TO, `${s3Public.hostname}:${s3Public.port}=s3:7070`, 'the presigned download (S3_PUBLIC_ENDPOINT) is sent to the store inside compose');
    t.deepEqual(smoke.profiles, ['smoke']);
    t.is(smoke.depends_on?.gateway?.condition, 'service_healthy');
  });

  test('the gateway reaches every upload instance, auth and files', (t) => {
    const env = serviceEnv(project.services.gateway!);
    t.deepEqual(env.UPLOAD_URL!.split(','), byWord('upload').map(([name]) => `http://${name}:8082`));
    t.is(env.AUTH_URL, 'http://auth:8081');
    t.is(env.FILES_URL, 'http://files:8083');
    t.is(env.REDIS_URL, 'redis://redis:6379');
    t.is(serviceEnv(project.services.files!).AUTH_URL, 'http://auth:8081');
    for (const [name, service] of byWord('upload')) t.is(serviceEnv(service).FILES_URL, 'http://files:8083', name);
  });

  test('each database has its own named volume, its own pg_isready check, and the credentials its service uses', (t) => {
    const databases = services.filter(([, service]) => service.image?.startsWith('postgres:'));
    t.deepEqual(databases.map(([name]) => name).sort(), ['auth-db', 'files-db', 'upload-db']);
    const volumes = new Set<string>();
    for (const [name, db] of databases) {
      const env = serviceEnv(db);
      const data = db.volumes?.find((mount) => mount.target === '/var/lib/postgresql/data');
      t.is(data?.type, 'volume', `${name} keeps its data in a named volume`);
      t.is(data?.source, `${name}-data`);
      t.false(volumes.has(data!.source!), `${name}'s volume is its own`);
      volumes.add(data!.source!);
      t.deepEqual(db.healthcheck?.test, ['CMD', 'pg_isready', '-h', '127.0.0.1', '-U', env.POSTGRES_USER, '-d', env.POSTGRES_DB], name);
      const service = name.replace(/-db$/, '');
      for (const [user, consumer] of govault.filter(([, s]) => commandWord(s) === service)) {
        const url = new URL(serviceEnv(consumer)[`${service.toUpperCase()}_DATABASE_URL`]!);
        t.is(url.host, `${name}:5432`, user);
        t.is<string | undefined, string | undefined>(decodeURIComponent(url.username), env.POSTGRES_USER, user);
        t.is<string | undefined, string | undefined>(decodeURIComponent(url.password), env.POSTGRES_PASSWORD, user);
        t.is(url.pathname, `/${env.POSTGRES_DB}`, user);
      }
    }
    const passwords = databases.map(([, db]) => serviceEnv(db).POSTGRES_PASSWORD);
    t.is(new Set(passwords).size, passwords.length, 'no two databases share a password');
  });

  test('each service mounts only its own keys, read-only; only the keys job sees the whole volume', (t) => {
    for (const [name, service] of services) {
      const keyMounts = (service.volumes ?? []).filter((mount) => mount.source === 'keys');
      const word = service.image === 'govault:latest' ? commandWord(service) : undefined;
      if (word === 'keys') {
        t.deepEqual(keyMounts.map((m) => [m.target, m.volume?.subpath]), [['/keys', undefined]]);
        t.is(serviceEnv(service).KEYS_DIR, '/keys');
        continue;
      }
      if (!word || !isService(word)) {
        t.is(keyMounts.length, 0, `${name} mounts no keys`);
        continue;
      }
      const env = serviceEnv(service);
      const expected: Array<[string, string]> = [[env.INTERNAL_KEY_DIR!, word]];
      if (word === 'auth') expected.push([env.AUTH_SIGNING_KEY_DIR!, 'auth-signing']);
      t.deepEqual(keyMounts.map((m) => [m.target, m.volume?.subpath]), expected, name);
      t.true(keyMounts.every((m) => m.read_only === true && m.type === 'volume'), `${name}'s keys are read-only`);
    }
  });

  test('every volume a service writes to is its own', (t) => {
    const writers = new Map<string, string[]>();
    for (const [name, service] of services) {
      for (const mount of service.volumes ?? []) {
        if (mount.type !== 'volume' || mount.read_only) continue;
        writers.set(mount.source!, [...(writers.get(mount.source!) ?? []), name]);
      }
    }
    for (const [volume, names] of writers) t.is(names.length, 1, `${volume} is written by ${names.join(', ')}`);
    t.deepEqual(writers.get('upload-1-data'), ['upload-1']);
    t.deepEqual(writers.get('upload-2-data'), ['upload-2']);
  });

  test("prometheus.yml's scrape targets are compose services on ports they listen on", (t) => {
    const config = parseYaml(readFileSync(join(REPO_ROOT, 'prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
    };
    const targets = config.scrape_configs.flatMap((job) => job.static_configs.flatMap((c) => c.targets));
    t.true(targets.length >= 5, targets.join(', '));
    for (const target of targets) {
      const [host, port] = target.split(':');
      const service = project.services[host!];
      t.truthy(service, `${target}: ${host} is a compose service`);
      if (service) t.true(listensOn(host!, service).includes(Number(port)), `${target}: ${host} listens on ${port}`);
    }
    const prometheus = project.services.prometheus!;
    t.true(prometheus.volumes!.some((m) => m.source?.endsWith('/prometheus/prometheus.yml') && m.target === '/etc/prometheus/prometheus.yml'));
    t.true(prometheus.volumes!.some((m) => m.source?.endsWith('/prometheus/rules') && m.target === '/etc/prometheus/rules'), 'rule_files (rules/*.yml) resolve beside the config');
  });

  test("Grafana gets the repository's provisioning and dashboards where they say they belong", (t) => {
    const mounts = Object.fromEntries(project.services.grafana!.volumes!.map((m) => [m.target, m.source?.slice(REPO_ROOT.length)]));
    t.is(mounts['/etc/grafana/provisioning/datasources'], 'grafana/provisioning/datasources');
    t.is(mounts['/etc/grafana/provisioning/dashboards'], 'grafana/provisioning/dashboards');
    const provider = readFileSync(join(REPO_ROOT, 'grafana/provisioning/dashboards/govault.yaml'), 'utf8');
    const path = /path: (\S+)/.exec(provider)![1]!;
    t.is(mounts[path], 'grafana/dashboards');
    const datasource = readFileSync(join(REPO_ROOT, 'grafana/provisioning/datasources/prometheus.yaml'), 'utf8');
    t.regex(datasource, /url: http:\/\/prometheus:9090/);
  });

  test('upload, files and create-bucket use the S3 credentials versitygw is started with', (t) => {
    const s3 = serviceEnv(project.services.s3!);
    for (const [name, service] of govault.filter(([, s]) => serviceEnv(s).S3_ENDPOINT)) {
      const env = serviceEnv(service);
      t.is(env.S3_ENDPOINT, 'http://s3:7070', name);
      t.is(env.S3_ACCESS_KEY_ID, s3.ROOT_ACCESS_KEY, name);
      t.is(env.S3_SECRET_ACCESS_KEY, s3.ROOT_SECRET_KEY, name);
      t.is(env.S3_BUCKET, serviceEnv(project.services['create-bucket']!).S3_BUCKET, name);
    }
  });

  test('compose.yaml itself holds no secret: each comes from .env, required, with no fallback', (t) => {
    const text = readFileSync(COMPOSE_FILE, 'utf8');
    const raw = parseYaml(text, { merge: true }) as { services: Record<string, { environment?: Record<string, unknown> }> };
    let checked = 0;
    let urls = 0;
    for (const [name, service] of Object.entries(raw.services)) {
      for (const [variable, value] of Object.entries(service.environment ?? {})) {
        const text = String(value);
        if (SECRET_NAME.test(variable) && !variable.endsWith('_KEY_DIR')) {
          checked++;
          t.regex(text, /^\$\{[A-Z0-9_]+:\?[^}]+\}$/, `${name} ${variable} is a required variable, not a literal`);
        }
        // Passwords inside URLs (database URLs) too.
        const password = /^[a-z]+:\/\/(?:\$\{[^}]*\}|[^:/@$]*):(.*?)@[a-z0-9-]+:\d+\//.exec(text)?.[1];
        if (password !== undefined) urls++;
        if (password !== undefined) t.regex(password, /^\$\{[A-Z0-9_]+:\?[^}]+\}$/, `${name} ${variable}'s password`);
      }
    }
    t.true(checked >= 10, `${checked} secret variables checked`);
    t.true(urls >= 4, `${urls} URL passwords checked`);
    for (const [variable, value] of readEnvFile(ENV_EXAMPLE)) {
      if (SECRET_NAME.test(variable)) t.false(text.includes(value), `.env.example's ${variable} value is not written into compose.yaml`);
    }
  });

  test('.env.example documents every variable compose.yaml reads, with the default compose.yaml falls back to', (t) => {
    const references = variableReferences(readFileSync(COMPOSE_FILE, 'utf8'));
    const documented = readEnvFile(ENV_EXAMPLE);
    const read = new Set(references.map((r) => r.name));
    t.deepEqual([...read].sort(), [...documented.keys()].sort(), 'the same names in both files');
    for (const reference of references) {
      if (reference.fallback !== undefined) t.is(documented.get(reference.name), reference.fallback, `${reference.name}'s default`);
      if (reference.required) t.true((documented.get(reference.name) ?? '').length > 0, `${reference.name} has a local value`);
    }
  });
}

/** Container ports a service listens on: a GoVault service's from its own config, others' from `expose`. */
function listensOn(name: string, service: ComposeService): number[] {
  if (service.image === 'govault:latest') {
    const word = commandWord(service);
    return isService(word) ? listeningPorts(word, serviceEnv(service)) : [];
  }
  const known: Record<string, number[]> = { redis: [6379], prometheus: [9090] };
  if (service.image?.startsWith('postgres:')) return [5432];
  return [...exposedPorts(service), ...(known[name] ?? [])];
}
