import { startEmbeddedPostgres } from '@govault/lib/embedded-postgres';

/** Child process of the launcher: serves the embedded PostgreSQL until SIGTERM. */
const dataDir = process.env.EMBEDDED_DB_DIR;
const port = Number(process.env.EMBEDDED_DB_PORT);
if (!dataDir || !Number.isInteger(port) || port <= 0) {
  process.stderr.write('EMBEDDED_DB_DIR and EMBEDDED_DB_PORT are required\n');
  process.exit(2);
}
const db = await startEmbeddedPostgres({ dataDir, port });
process.stdout.write(`${JSON.stringify({ msg: 'embedded postgres ready', url: db.url })}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await db.stop();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
