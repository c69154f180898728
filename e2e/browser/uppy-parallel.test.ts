import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import test from 'ava';
import { getJson } from '../client.ts';
import { browserSuite } from './harness.ts';
import { buildStockUppyPage, type StockUppyPage, type UploadOutcome } from './stock-uppy-page.ts';

/**
 * Stock Uppy (@uppy/tus) with `parallelUploads: 4`, in Chromium, through the gateway: each
 * file goes up as four partial uploads joined by a final one (tus concatenation, issue 17),
 * in both storage modes. The gateway serves the stock-Uppy page as its web app.
 */
const page = await buildStockUppyPage();
const suite = browserSuite({ WEB_APP_DIR: page });
test.after.always(async () => {
  await suite.close();
  rmSync(page, { recursive: true, force: true });
});

const MiB = 1024 * 1024;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

for (const mode of suite.modes) {
  test.serial(`${mode}: stock Uppy with parallelUploads 4 in Chromium: each file is four partials and one final, listed once, the same bytes`, async (t) => {
    const stack = await suite.stack(mode);
    const person = await stack.person('Parallel Uppy');
    const context = await stack.browser.newContext({ baseURL: stack.baseUrl });
    t.teardown(() => context.close());
    const tab = await context.newPage();
    const concat: string[] = [];
    tab.on('request', (request) => {
      if (request.method() === 'POST' && new URL(request.url()).pathname === '/api/uploads/tus') concat.push(request.headers()['upload-concat']?.split(';')[0] ?? 'none');
    });
    await tab.goto('/');
    await tab.waitForFunction(() => typeof (globalThis as unknown as Partial<StockUppyPage>).uploadAll === 'function');
    // 12 MiB files make partials of 3 MiB (streamed together on S3); 24 MiB ones partials of 6 MiB (copied with UploadPartCopy).
    const wanted = [
      { name: 'parallel twelve.bin', size: 12 * MiB },
      { name: 'parallel twenty-four.bin', size: 24 * MiB },
    ];
    const outcome: UploadOutcome = await tab.evaluate(
      ([token, files]) => (globalThis as unknown as StockUppyPage).uploadAll(token, files, { parallelUploads: 4 }),
      [person.accessToken, wanted] as const,
    );
    t.deepEqual(outcome.failed, [], `no upload failed (${outcome.errors.join('; ')})`);
    t.deepEqual(concat.sort(), [...Array(8).fill('partial'), 'final', 'final'].sort(), 'four partial creations and one final per file, no plain upload');

    const owned = await getJson<{ items: Array<{ id: string; name: string; size: number }> }>(`${stack.baseUrl}/api/files?view=owned&limit=100`, person.auth);
    t.deepEqual(owned.body.items.map((f) => [f.name, f.size]).sort(), wanted.map((w) => [w.name, w.size]).sort(), 'each file listed once, no partial');
    for (const sent of outcome.files) {
      const file = owned.body.items.find((f) => f.name === sent.name)!;
      const content = await fetch(`${stack.baseUrl}/api/files/${file.id}/content`, { headers: person.auth });
      t.is(sha256(new Uint8Array(await content.arrayBuffer())), sent.sha256, `${sent.name} downloads with the sha256 the browser sent`);
    }
  });
}
