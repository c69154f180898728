import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { COMPOSE_FILE, ENV_EXAMPLE, composeConfigTool, GoMissingError, REPO_ROOT, runComposeConfig } from '../src/compose.ts';
import { suiteUnavailable } from './unavailable.ts';

/**
 * deploy/tools/compose-config is compose-go's loader: compose.yaml must pass it with the
 * full Compose-specification schema and consistency checks on, and a file that breaks
 * either must not.
 */
const toolMissing = (() => {
  try {
    composeConfigTool();
    return undefined;
  } catch (err) {
    if (err instanceof GoMissingError) return err.message;
    throw err;
  }
})();

if (toolMissing) {
  suiteUnavailable('compose-config checks', toolMissing);
} else {
  const original = readFileSync(COMPOSE_FILE, 'utf8');

  /** compose.yaml with one edit, written beside a copy of the repository root's layout (build: . and ./prometheus resolve the same). */
  function brokenCopy(edit: (text: string) => string): { file: string; cleanup(): void } {
    const edited = edit(original);
    if (edited === original) throw new Error('the edit changed nothing: the test would prove nothing');
    const dir = mkdtempSync(join(tmpdir(), 'govault-compose-broken-'));
    const file = join(dir, 'compose.yaml');
    writeFileSync(file, edited);
    return { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  }

  function loadsWithExample(file: string) {
    return runComposeConfig(file, { envFile: ENV_EXAMPLE, profiles: ['*'] });
  }

  test('compose.yaml passes compose-go with schema validation and consistency checks, every profile on', (t) => {
    const run = loadsWithExample(COMPOSE_FILE);
    t.is(run.status, 0, run.stderr);
    const project = JSON.parse(run.stdout) as { name: string; services: Record<string, unknown> };
    t.is(project.name, 'govault');
    t.truthy(project.services.smoke, 'the smoke job (profile smoke) is in the project when its profile is on');
  });

  test('without its profile the smoke job is not part of `docker compose up`', (t) => {
    const run = runComposeConfig(COMPOSE_FILE, { envFile: ENV_EXAMPLE });
    t.is(run.status, 0, run.stderr);
    t.falsy((JSON.parse(run.stdout) as { services: Record<string, unknown> }).services.smoke);
  });

  test('without an env file compose refuses to start and names each required secret', (t) => {
    const run = runComposeConfig(COMPOSE_FILE);
    t.is(run.status, 1);
    for (const name of ['AUTH_DB_PASSWORD', 'UPLOAD_DB_PASSWORD', 'FILES_DB_PASSWORD', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'GRAFANA_ADMIN_PASSWORD']) {
      t.regex(run.stderr, new RegExp(`required variable ${name} is missing a value`), name);
    }
  });

  test('a .env beside the compose file is not read unless named (the output depends on the files given)', (t) => {
    const copy = brokenCopy((text) => text.replace('name: govault', 'name: govault-copy'));
    try {
      writeFileSync(join(copy.file, '../.env'), readFileSync(ENV_EXAMPLE));
      const run = runComposeConfig(copy.file);
      t.is(run.status, 1);
      t.regex(run.stderr, /required variable AUTH_DB_PASSWORD is missing a value/);
    } finally {
      copy.cleanup();
    }
  });

  const breaks: Array<[string, (text: string) => string, RegExp]> = [
    ['an unknown top-level key', (text) => `${text}\nbogus_top_level: {}\n`, /additional properties 'bogus_top_level' not allowed/],
    ['an unknown service key', (text) => text.replace(/^  gateway:\n/m, '  gateway:\n    bogus_key: true\n'), /services\.gateway.*bogus_key/],
    [
      'a depends_on on a service that does not exist',
      (text) => text.replace('      redis:\n        condition: service_healthy\n', '$&      no-such-service:\n        condition: service_healthy\n'),
      /depends on undefined service "?no-such-service"?/,
    ],
  ];
  for (const [what, edit, message] of breaks) {
    test(`a copy of compose.yaml with ${what} fails with the loader's message`, (t) => {
      const copy = brokenCopy(edit);
      try {
        const run = loadsWithExample(copy.file);
        t.is(run.status, 1, `it loaded:\n${run.stdout.slice(0, 500)}`);
        t.regex(run.stderr, message);
      } finally {
        copy.cleanup();
      }
    });
  }

  test('the tool is run from the repository, so compose paths resolve against it', (t) => {
    const run = loadsWithExample(COMPOSE_FILE);
    const project = JSON.parse(run.stdout) as { services: Record<string, { build?: { context: string } }> };
    t.is(project.services.gateway?.build?.context.replace(/\/$/, ''), REPO_ROOT.replace(/\/$/, ''));
  });
}
