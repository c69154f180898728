import test from 'ava';
import { randomUUID } from 'node:crypto';
import type { Page } from 'playwright-core';
import { uploadWithTus } from '../client.ts';
import { button, fileAction, fileRow, logInThroughUi, navigate, renameThroughUi, searchBox } from './app.ts';
import { LocalFiles } from './fixtures.ts';
import { ACTION_TIMEOUT_MS, browserSuite } from './harness.ts';
import { throttleUploads, upload } from './uploader.ts';

/**
 * Access tokens that live 5 seconds: the app renews them before they expire (and after a
 * 401), so a person working for half a minute sees no error and is never logged out.
 */
const TOKEN_SECONDS = 5;
const suite = browserSuite({ ACCESS_TOKEN_TTL_SECONDS: String(TOKEN_SECONDS) });
const files = new LocalFiles();
test.after.always(async () => {
  await suite.close();
  files.remove();
});

for (const mode of suite.modes) {
  test.serial(`${mode}: with ${TOKEN_SECONDS}-second access tokens the app keeps working across several expiries, with no error and no logout`, async (t) => {
    const stack = await suite.stack(mode);
    const person = await stack.person('Mary');
    const existing = `Ledger ${mode}.txt`;
    await uploadWithTus(stack.baseUrl, person, existing, Buffer.from(`ledger ${randomUUID()}`));
    const browser = await stack.visitor(t);
    const page = await browser.page();
    const renewals: string[] = [];
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === '/api/auth/refresh') renewals.push(request.method());
    });
    await logInThroughUi(page, person);
    const startedAt = Date.now();

    // A throttled upload outlives a token: its requests must carry a fresh one.
    const big = files.make(`slow ${mode}.bin`, 1_500_000);
    const throttle = await throttleUploads(page, 200 * 1024);
    await upload(page, [big], 'Resumable (tus)');
    await fileRow(page, big.name).waitFor({ timeout: 60_000 });
    await throttle.stop();
    await page.keyboard.press('Escape');

    // Then ordinary work, for at least four token lifetimes in all.
    let name = existing;
    for (let round = 0; Date.now() - startedAt < 4 * TOKEN_SECONDS * 1000 + 1000; round++) {
      await navigate(page, 'Trash');
      await navigate(page, 'My files');
      await fileRow(page, name).waitFor({ timeout: ACTION_TIMEOUT_MS });
      const next = `Ledger ${mode} v${round + 2}.txt`;
      await renameThroughUi(page, name, next);
      await fileRow(page, next).waitFor({ timeout: ACTION_TIMEOUT_MS });
      name = next;
      await searchBox(page).fill(`v${round + 2}`);
      await fileRow(page, next).waitFor({ timeout: ACTION_TIMEOUT_MS });
      await searchBox(page).fill('');
      await idleFor(page, TOKEN_SECONDS * 1000);
    }
    await page.reload();
    await fileRow(page, name).waitFor({ timeout: ACTION_TIMEOUT_MS });
    await fileAction(page, name, 'Add shortcut');
    await navigate(page, 'Shortcuts');
    await fileRow(page, name).waitFor({ timeout: ACTION_TIMEOUT_MS });

    t.true(await button(page, 'Log out').isVisible(), 'still signed in');
    t.deepEqual(await visibleAlerts(page), [], 'no error shown');
    t.true(renewals.length >= 3, `the access token was renewed ${renewals.length} times over ${Math.round((Date.now() - startedAt) / 1000)} s`);
    browser.assertNothingWentWrong(t);
  });
}

/** A person reading the screen: nothing happens for `ms`, while the token may run out. */
async function idleFor(page: Page, ms: number): Promise<void> {
  await page.waitForTimeout(ms);
}

async function visibleAlerts(page: Page): Promise<string[]> {
  const texts: string[] = [];
  for (const alert of await page.getByRole('alert').all()) {
    if (await alert.isVisible()) texts.push((await alert.innerText()).trim());
  }
  return texts.filter(Boolean);
}
