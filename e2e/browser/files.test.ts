import test from 'ava';
import { AxeBuilder } from '@axe-core/playwright';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { getJson, postJson, uploadWithTus } from '../client.ts';
import { ROOT } from '../system.ts';
import {
  actionsOf,
  button,
  choose,
  closeDialog,
  confirm,
  dialogNamed,
  downloadedSha256,
  fileAction,
  fileRow,
  fileRows,
  navigate,
  renameThroughUi,
  searchBox,
} from './app.ts';
import { LocalFiles, sha256 } from './fixtures.ts';
import { ACTION_TIMEOUT_MS, browserSuite, eventually, type Person, type Stack } from './harness.ts';
import { startUnfinishedTusUpload } from './uploader.ts';

/**
 * Every file action of the web app, by a person in a real Chromium: sharing between two
 * browsers, public links opened signed out, shortcuts, trash, search and paging; then
 * accessibility (axe) and the screenshots of the README.
 */
const suite = browserSuite();
const local = new LocalFiles();
test.after.always(async () => {
  await suite.close();
  local.remove();
});

/** A file of `person`, made through the API: these tests are about what the app does with it. */
async function fileOf(stack: Stack, person: Person, name: string, text = `${name} ${randomUUID()}`): Promise<{ id: string; name: string; sha256: string }> {
  const bytes = Buffer.from(text);
  const id = await uploadWithTus(stack.baseUrl, person, name, bytes);
  return { id, name, sha256: sha256(bytes) };
}

async function openFiles(page: Page, path = '/'): Promise<void> {
  await page.goto(path);
  await button(page, 'Log out').waitFor({ timeout: ACTION_TIMEOUT_MS });
}

/** Until the row's actions include (or lack) `action`, reloading as a person would to see another's change. */
async function reloadUntil(page: Page, name: string, check: (actions: string[]) => boolean, what: string): Promise<void> {
  await eventually(async () => {
    await page.reload();
    await fileRow(page, name).waitFor({ timeout: ACTION_TIMEOUT_MS });
    return check(await actionsOf(page, name));
  }, what);
}

for (const mode of suite.modes) {
  test.serial(`${mode}: shared as viewer the file is in Shared with me without Rename; as editor Rename works; removed, it is gone`, async (t) => {
    const stack = await suite.stack(mode);
    const [alice, bob] = await Promise.all([stack.person('Alice'), stack.person('Bob')]);
    const file = await fileOf(stack, alice, `Quarterly report ${mode}.txt`);
    // Stays shared: once it is listed, Bob's list has loaded and an absent row means gone.
    const handbook = await fileOf(stack, alice, `Team handbook ${mode}.txt`);
    await postJson(`${stack.baseUrl}/api/files/${handbook.id}/shares`, { email: bob.email, role: 'viewer' }, alice.auth);
    const aliceBrowser = await stack.signedIn(t, alice);
    const bobBrowser = await stack.signedIn(t, bob);
    const a = await aliceBrowser.page();
    const b = await bobBrowser.page();

    await openFiles(a);
    await fileAction(a, file.name, 'Share');
    const dialog = dialogNamed(a, `Share ${file.name}`);
    await dialog.getByRole('textbox', { name: 'Email', exact: true }).fill(bob.email);
    await choose(dialog, 'Role', 'Viewer');
    await button(dialog, 'Add').click();
    await button(dialog, `Remove ${bob.email}`).waitFor({ timeout: ACTION_TIMEOUT_MS });

    await openFiles(b);
    await navigate(b, 'Shared with me');
    await fileRow(b, file.name).waitFor({ timeout: ACTION_TIMEOUT_MS });
    const viewerActions = await actionsOf(b, file.name);
    t.true(viewerActions.includes('Download'), `a viewer may download (actions: ${viewerActions.join(', ')})`);
    t.false(viewerActions.includes('Rename'), 'a viewer is offered no Rename');
    t.false(viewerActions.includes('Share'), 'a viewer is offered no Share');
    const viewerCopy = await downloadedSha256(b, () => fileAction(b, file.name, 'Download'));
    t.is(viewerCopy.sha256, file.sha256);

    await choose(dialog, `Role for ${bob.email}`, 'Editor');
    await reloadUntil(b, file.name, (actions) => actions.includes('Rename'), 'Rename for Bob the editor');
    const renamed = `Quarterly report ${mode} (Bob's edit).txt`;
    await renameThroughUi(b, file.name, renamed);
    await fileRow(b, renamed).waitFor({ timeout: ACTION_TIMEOUT_MS });
    await closeDialog(a, dialog);
    await a.reload();
    await fileRow(a, renamed).waitFor({ timeout: ACTION_TIMEOUT_MS });

    await fileAction(a, renamed, 'Share');
    const again = dialogNamed(a, `Share ${renamed}`);
    await button(again, `Remove ${bob.email}`).click();
    await button(again, `Remove ${bob.email}`).waitFor({ state: 'detached', timeout: ACTION_TIMEOUT_MS });
    await closeDialog(a, again);
    await b.reload();
    await fileRow(b, handbook.name).waitFor({ timeout: ACTION_TIMEOUT_MS });
    t.is(await fileRow(b, renamed).count(), 0, 'the file is gone from Bob\'s Shared with me');
    t.is(await fileRows(b).count(), 1);
    aliceBrowser.assertNothingWentWrong(t, "Alice's browser");
    bobBrowser.assertNothingWentWrong(t, "Bob's browser");
  });

  test.serial(`${mode}: made public, the link opened signed out downloads the file; made private, the same link shows not found`, async (t) => {
    const stack = await suite.stack(mode);
    const alice = await stack.person('Alice');
    const file = await fileOf(stack, alice, `Flyer ${mode}.pdf`);
    const aliceBrowser = await stack.signedIn(t, alice);
    await aliceBrowser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.baseUrl });
    const a = await aliceBrowser.page();
    await openFiles(a);
    t.false((await actionsOf(a, file.name)).includes('Copy public link'), 'a private file has no public link');
    await fileAction(a, file.name, 'Make public');
    await eventually(async () => (await actionsOf(a, file.name)).includes('Make private'), 'Make private in place of Make public');
    await fileAction(a, file.name, 'Copy public link');
    const link = await a.evaluate<string>('navigator.clipboard.readText()');
    t.is(link, `${stack.baseUrl}/p/${file.id}`);

    const strangerBrowser = await stack.visitor(t);
    const s = await strangerBrowser.page();
    await s.goto(link);
    await s.getByRole('heading', { name: file.name }).waitFor({ timeout: ACTION_TIMEOUT_MS });
    const copy = await downloadedSha256(s, () => s.getByRole('link', { name: 'Download', exact: true }).click());
    t.is(copy.sha256, file.sha256, 'the stranger downloads the very bytes');

    await fileAction(a, file.name, 'Make private');
    await eventually(async () => (await actionsOf(a, file.name)).includes('Make public'), 'Make public again');
    // The app asks for the file and hears 404: that answer is the point here.
    strangerBrowser.allow(new RegExp(`(http 404: GET \\S+/api/public/files/${file.id}$)|(404 \\(Not Found\\) \\[\\S+/api/public/files/${file.id}\\]$)`));
    await s.reload();
    await s.getByText(/not found/i).first().waitFor({ timeout: ACTION_TIMEOUT_MS });
    t.is(await s.getByRole('link', { name: 'Download', exact: true }).count(), 0, 'no Download for a private file');
    t.false((await s.content()).includes(file.name), 'the page does not name the private file');
    aliceBrowser.assertNothingWentWrong(t, "Alice's browser");
    strangerBrowser.assertNothingWentWrong(t, "the stranger's browser");
  });

  test.serial(`${mode}: shortcut, trash, restore, delete forever, search and paging`, async (t) => {
    const stack = await suite.stack(mode);
    const alice = await stack.person('Alice');
    const keep = await fileOf(stack, alice, `Budget ${mode}.ods`);
    const doomed = await fileOf(stack, alice, `Old draft ${mode}.txt`);
    const other = await fileOf(stack, alice, `Holiday photos ${mode}.zip`);
    const browser = await stack.signedIn(t, alice);
    const page = await browser.page();
    await openFiles(page);

    await fileAction(page, keep.name, 'Add shortcut');
    await eventually(async () => (await actionsOf(page, keep.name)).includes('Remove shortcut'), 'Remove shortcut in place of Add shortcut');
    await navigate(page, 'Shortcuts');
    await fileRow(page, keep.name).waitFor({ timeout: ACTION_TIMEOUT_MS });
    await fileAction(page, keep.name, 'Remove shortcut');
    await fileRow(page, keep.name).waitFor({ state: 'detached', timeout: ACTION_TIMEOUT_MS });

    await navigate(page, 'My files');
    await fileAction(page, doomed.name, 'Move to trash');
    await fileRow(page, doomed.name).waitFor({ state: 'detached', timeout: ACTION_TIMEOUT_MS });
    await navigate(page, 'Trash');
    await fileRow(page, doomed.name).waitFor({ timeout: ACTION_TIMEOUT_MS });
    const trashActions = await actionsOf(page, doomed.name);
    t.true(trashActions.includes('Restore') && trashActions.includes('Delete forever'), `Trash offers Restore and Delete forever (${trashActions.join(', ')})`);
    await fileAction(page, doomed.name, 'Restore');
    await fileRow(page, doomed.name).waitFor({ state: 'detached', timeout: ACTION_TIMEOUT_MS });
    await navigate(page, 'My files');
    await fileRow(page, doomed.name).waitFor({ timeout: ACTION_TIMEOUT_MS });
    await fileAction(page, doomed.name, 'Move to trash');
    await fileRow(page, doomed.name).waitFor({ state: 'detached', timeout: ACTION_TIMEOUT_MS });
    await navigate(page, 'Trash');
    await fileAction(page, doomed.name, 'Delete forever');
    await confirm(page, 'Delete forever');
    await fileRow(page, doomed.name).waitFor({ state: 'detached', timeout: ACTION_TIMEOUT_MS });
    t.is((await getJson(`${stack.baseUrl}/api/files/${doomed.id}`, alice.auth)).status, 404, 'deleted forever: the server has no such file');

    await navigate(page, 'My files');
    await searchBox(page).fill('Budget');
    await eventually(async () => (await fileRows(page).count()) === 1 && (await fileRow(page, keep.name).count()) === 1, 'the search to list Budget alone');
    await searchBox(page).fill('');
    await eventually(async () => (await fileRows(page).count()) === 2 && (await fileRow(page, other.name).count()) === 1, 'both files once the search is cleared');
    browser.assertNothingWentWrong(t);
  });

  test.serial(`${mode}: more files than a page: the first page, then the rest, newest first`, async (t) => {
    const stack = await suite.stack(mode);
    const pat = await stack.person('Pat');
    const browser = await stack.signedIn(t, pat);
    const page = await browser.page();
    const listRequest = page.waitForRequest((r) => new URL(r.url()).pathname === '/api/files', { timeout: ACTION_TIMEOUT_MS });
    await openFiles(page);
    const pageSize = Number(new URL((await listRequest).url()).searchParams.get('limit') ?? 50);

    const total = pageSize + 5;
    const names = Array.from({ length: total - 1 }, (_, i) => `bulk ${String(i).padStart(3, '0')} ${mode}.txt`);
    for (let i = 0; i < names.length; i += 8) await Promise.all(names.slice(i, i + 8).map((name) => fileOf(stack, pat, name)));
    const newest = await fileOf(stack, pat, `newest ${mode}.txt`);
    await page.reload();
    await fileRow(page, newest.name).waitFor({ timeout: ACTION_TIMEOUT_MS });
    t.is(await fileRows(page).count(), pageSize, `one page of ${pageSize} files at first`);
    t.true((await fileRows(page).first().innerText()).includes(newest.name), 'newest first');

    const loadMore = button(page, 'Load more');
    if ((await loadMore.count()) > 0) await loadMore.click();
    else await fileRows(page).last().scrollIntoViewIfNeeded();
    await eventually(async () => (await fileRows(page).count()) === total, `all ${total} files after loading more`);
    t.is(await page.getByRole('row', { name: /bulk 000/ }).count(), 1, 'the oldest file is listed once');
    browser.assertNothingWentWrong(t);
  });

  test.serial(`${mode}: axe finds no serious or critical violation on sign-in, the file list, the share dialog and the public page`, async (t) => {
    const stack = await suite.stack(mode);
    const alice = await stack.person('Alice');
    const file = await fileOf(stack, alice, `Accessible ${mode}.txt`);
    await fetch(`${stack.baseUrl}/api/files/${file.id}`, { method: 'PATCH', headers: { ...alice.auth, 'content-type': 'application/json' }, body: JSON.stringify({ visibility: 'public' }) });

    const stranger = await stack.visitor(t);
    const s = await stranger.page();
    await s.goto('/login');
    await button(s, 'Log in').waitFor({ timeout: ACTION_TIMEOUT_MS });
    t.deepEqual(await seriousViolations(s), [], 'sign-in');
    await s.goto(`/p/${file.id}`);
    await s.getByRole('heading', { name: file.name }).waitFor({ timeout: ACTION_TIMEOUT_MS });
    t.deepEqual(await seriousViolations(s), [], 'public page');

    const browser = await stack.signedIn(t, alice);
    const page = await browser.page();
    await openFiles(page);
    await fileRow(page, file.name).waitFor({ timeout: ACTION_TIMEOUT_MS });
    t.deepEqual(await seriousViolations(page), [], 'file list');
    await fileAction(page, file.name, 'Share');
    await dialogNamed(page, `Share ${file.name}`).waitFor({ timeout: ACTION_TIMEOUT_MS });
    t.deepEqual(await seriousViolations(page), [], 'share dialog');
    stranger.assertNothingWentWrong(t, "the stranger's browser");
    browser.assertNothingWentWrong(t);
  });
}

async function seriousViolations(page: Page): Promise<string[]> {
  const { violations } = await new AxeBuilder({ page }).analyze();
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join('; ')}`);
}

// The README's pictures. GOVAULT_SCREENSHOTS=1 (`npm run screenshots -w e2e`) writes them
// to docs/screenshots/; otherwise they go to a temporary folder, so that CI leaves the
// tree clean while still proving that every screen can be reached and drawn.
const [screenshotMode] = suite.modes;
test.serial(`${screenshotMode}: screenshots of the main screens, light and dark`, async (t) => {
  const stack = await suite.stack(screenshotMode!);
  const keep = process.env.GOVAULT_SCREENSHOTS === '1';
  const dir = keep ? join(ROOT, 'docs/screenshots') : mkdtempSync(join(tmpdir(), 'govault-screenshots-'));
  mkdirSync(dir, { recursive: true });
  if (!keep) t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ada = await stack.person('Ada Lovelace', 'ada@example.com');
  const grace = await stack.person('Grace Hopper', 'grace@example.com');
  for (const [name, text] of [['Analytical engine notes.md', 'x'.repeat(48_213)], ['Bernoulli numbers.pdf', 'y'.repeat(1_912_330)], ['Punched cards.csv', 'z'.repeat(7_405)]] as const) {
    await fileOf(stack, ada, name, text);
  }
  const shared = await fileOf(stack, ada, 'Note G.txt', 'The first published program.');
  await fetch(`${stack.baseUrl}/api/files/${shared.id}/shares`, { method: 'POST', headers: { ...ada.auth, 'content-type': 'application/json' }, body: JSON.stringify({ email: grace.email, role: 'editor' }) });
  await fetch(`${stack.baseUrl}/api/files/${shared.id}`, { method: 'PATCH', headers: { ...ada.auth, 'content-type': 'application/json' }, body: JSON.stringify({ visibility: 'public' }) });
  const unfinished = local.make('Difference engine (scans).zip', 4 * 1024 * 1024);
  await startUnfinishedTusUpload(stack.baseUrl, ada.auth, unfinished, 1_600_000);

  const written: string[] = [];
  const shoot = async (page: Page, name: string) => {
    const path = join(dir, `${name}.png`);
    await page.screenshot({ path });
    written.push(path);
  };
  for (const scheme of ['light', 'dark'] as const) {
    const stranger = await stack.visitor(t, { colorScheme: scheme });
    const s = await stranger.page();
    await s.goto('/login');
    await button(s, 'Log in').waitFor({ timeout: ACTION_TIMEOUT_MS });
    await shoot(s, `sign-in-${scheme}`);
    await s.goto(`/p/${shared.id}`);
    await s.getByRole('heading', { name: shared.name }).waitFor({ timeout: ACTION_TIMEOUT_MS });
    await shoot(s, `public-page-${scheme}`);

    const browser = await stack.signedIn(t, ada, { colorScheme: scheme });
    const page = await browser.page();
    await openFiles(page);
    await fileRow(page, shared.name).waitFor({ timeout: ACTION_TIMEOUT_MS });
    await shoot(page, `my-files-${scheme}`);
    await fileAction(page, shared.name, 'Share');
    await button(dialogNamed(page, `Share ${shared.name}`), `Remove ${grace.email}`).waitFor({ timeout: ACTION_TIMEOUT_MS });
    await shoot(page, `share-dialog-${scheme}`);
    await closeDialog(page, dialogNamed(page, `Share ${shared.name}`));
    await navigate(page, 'Unfinished uploads');
    await page.getByRole('row', { name: /Difference engine/ }).waitFor({ timeout: ACTION_TIMEOUT_MS });
    await shoot(page, `unfinished-uploads-${scheme}`);

    const phone = await stack.signedIn(t, ada, { colorScheme: scheme, viewport: { width: 360, height: 740 } });
    const small = await phone.page();
    await openFiles(small);
    await fileRow(small, shared.name).waitFor({ timeout: ACTION_TIMEOUT_MS });
    await shoot(small, `my-files-360px-${scheme}`);
    for (const visitor of [stranger, browser, phone]) visitor.assertNothingWentWrong(t);
  }
  if (keep) t.log(`screenshots written to ${dir}`);
  t.is(written.length, 12);
});
