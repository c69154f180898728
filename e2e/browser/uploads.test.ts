import test, { type ExecutionContext } from 'ava';
import type { Page } from 'playwright-core';
import { randomUUID } from 'node:crypto';
import { formatBytes } from '../../web/src/format.ts';
import { button, downloadedSha256, fileAction, fileRow, logInThroughUi, navigate, registerThroughUi } from './app.ts';
import { LocalFiles } from './fixtures.ts';
import { getJson } from '../client.ts';
import { ACTION_TIMEOUT_MS, browserSuite, eventually, type Person, type Stack } from './harness.ts';
import {
  UploadTraffic,
  type UploadRequest,
  continueAfterReload,
  isListParts,
  isMultipartCreation,
  isTusCreation,
  isTusHead,
  isTusPatch,
  partNumberOf,
  throttleUploads,
  unfinishedUploads,
  upload,
  waitForProgress,
} from './uploader.ts';

/**
 * Uploads in the web app, in a real Chromium against the real processes: tus through the
 * Dashboard, a reload in the middle of a throttled upload in both modes, and an upload
 * cut off by closing the tab that Unfinished uploads resumes.
 */
const suite = browserSuite();
const files = new LocalFiles();
test.after.always(async () => {
  await suite.close();
  files.remove();
});

const MiB = 1024 * 1024;
// A reload or a closed tab aborts what is in flight: that, and only that, is expected.
// A reload aborts what is in flight: a part or chunk on its way, or the call that signs the next part.
// The network of a closed tab going away first: what was in flight, and Chromium's line about it.
const CUT_OFF = /net::ERR_INTERNET_DISCONNECTED/;
const ABORTED_UPLOAD = /^request failed: ((PATCH|PUT|POST|HEAD) \S+|GET \S+\/api\/uploads\/s3\/multipart\/\S+) net::ERR_ABORTED$/;

for (const mode of suite.modes) {
  test.serial(`${mode}: a new user registers, logs in, uploads two files with tus; both are listed with their sizes and download intact`, async (t) => {
    const stack = await suite.stack(mode);
    const ada = await stack.visitor(t);
    const page = await ada.page();
    const person = { email: `ada-${randomUUID().slice(0, 8)}@example.test`, password: `pw-${randomUUID()}`, displayName: 'Ada' };
    await registerThroughUi(page, person);
    await logInThroughUi(page, person);

    const picked = [files.make(`Notizen ${mode} ü.txt`, 2_500), files.make(`photo-${mode}.jpg`, 1_300_000)];
    await upload(page, picked, 'Resumable (tus)');
    for (const file of picked) {
      const row = fileRow(page, file.name);
      await row.waitFor({ timeout: ACTION_TIMEOUT_MS });
      t.true((await row.innerText()).includes(formatBytes(file.size)), `${file.name} is listed as ${formatBytes(file.size)}`);
    }
    await page.keyboard.press('Escape'); // a modal Dashboard closes; the list is the page
    for (const file of picked) {
      const downloaded = await downloadedSha256(page, () => fileAction(page, file.name, 'Download'));
      t.is(downloaded.sha256, file.sha256, `${file.name}: the downloaded bytes are the picked file's`);
      t.is(downloaded.suggestedFilename, file.name);
    }
    ada.assertNothingWentWrong(t);
  });

  test.serial(`${mode}: a reload in the middle of a tus upload resumes it with a HEAD, no new upload, only the missing bytes`, async (t) => {
    const stack = await suite.stack(mode);
    const person = await stack.person('Grace');
    const grace = await stack.signedIn(t, person);
    const page = await grace.page();
    await page.goto('/');
    await button(page, 'Log out').waitFor({ timeout: ACTION_TIMEOUT_MS });
    const traffic = new UploadTraffic(page);
    const file = files.make(`big-${mode}.bin`, 3 * MiB);

    const throttle = await throttleUploads(page, 384 * 1024);
    await upload(page, [file], 'Resumable (tus)');
    await waitForProgress(page, 25);
    t.is(traffic.requests.filter(isTusCreation).length, 1, 'one tus creation before the reload');

    grace.allow(ABORTED_UPLOAD);
    const beforeReload = traffic.mark();
    await page.reload();
    await throttle.stop();
    await button(page, 'Log out').waitFor({ timeout: ACTION_TIMEOUT_MS });
    t.log(`after the reload the upload continued ${await continueAfterReload(page, file, 'Resumable (tus)', traffic, beforeReload)}`);
    grace.forbid(ABORTED_UPLOAD);
    await fileRow(page, file.name).first().waitFor({ timeout: 60_000 });
    await expectListedOnce(t, stack, person, page, file.name);

    const after = traffic.since(beforeReload);
    t.log(describe(after));
    t.deepEqual(after.filter(isTusCreation), [], 'no new upload is created after the reload');
    const head = after.find(isTusHead);
    t.truthy(head, 'Uppy asks the server for its offset (HEAD)');
    const resumedAt = Number(after.find(isTusPatch)?.headers['upload-offset']);
    t.true(resumedAt > 0 && resumedAt < file.size, `the first PATCH after the reload starts at ${resumedAt}, inside the file`);
    t.is(Number(head?.responseHeaders?.['upload-offset']), resumedAt, 'the PATCH continues at the offset the HEAD answered');
    const downloaded = await downloadedSha256(page, () => fileAction(page, file.name, 'Download'));
    t.is(downloaded.sha256, file.sha256);
    grace.assertNothingWentWrong(t);
  });

  test.serial(`${mode}: a reload in the middle of a direct multipart upload resumes it; parts already stored are not sent again`, async (t) => {
    const stack = await suite.stack(mode);
    const person = await stack.person('Hedy');
    const hedy = await stack.signedIn(t, person);
    const page = await hedy.page();
    await page.goto('/');
    await button(page, 'Log out').waitFor({ timeout: ACTION_TIMEOUT_MS });
    const traffic = new UploadTraffic(page);
    // Three parts at S3's 5 MiB minimum: 5 + 5 + 1 MiB, the small one stored first.
    const file = files.make(`direct-${mode}.bin`, 11 * MiB);

    const throttle = await throttleUploads(page, 1 * MiB);
    await upload(page, [file], 'Direct (S3 multipart)');
    const storedPart = (r: { status?: number }) => r.status === 200;
    await eventually(async () => traffic.requests.some((r) => partNumberOf(r) !== undefined && storedPart(r)), 'a first part stored', 60_000);
    const storedBefore = new Set(traffic.requests.filter((r) => partNumberOf(r) !== undefined && storedPart(r)).map(partNumberOf));
    t.is(traffic.requests.filter(isMultipartCreation).length, 1);

    hedy.allow(ABORTED_UPLOAD);
    const beforeReload = traffic.mark();
    await page.reload();
    await throttle.stop();
    await button(page, 'Log out').waitFor({ timeout: ACTION_TIMEOUT_MS });
    t.log(`after the reload the upload continued ${await continueAfterReload(page, file, 'Direct (S3 multipart)', traffic, beforeReload)}`);
    hedy.forbid(ABORTED_UPLOAD);
    await fileRow(page, file.name).first().waitFor({ timeout: 60_000 });
    await expectListedOnce(t, stack, person, page, file.name);

    const after = traffic.since(beforeReload);
    t.log(describe(after));
    t.deepEqual(after.filter(isMultipartCreation), [], 'no new multipart upload after the reload');
    t.true(after.some(isListParts), 'Uppy lists the parts the store holds');
    const putAgain = after.map(partNumberOf).filter((n) => n !== undefined && storedBefore.has(n));
    t.deepEqual(putAgain, [], `parts ${[...storedBefore].join(', ')} were stored before the reload and are not sent again`);
    t.true(after.some((r) => partNumberOf(r) !== undefined), 'the parts not yet stored are sent after the reload');
    const downloaded = await downloadedSha256(page, () => fileAction(page, file.name, 'Download'));
    t.is(downloaded.sha256, file.sha256);
    hedy.assertNothingWentWrong(t);
  });

  test.serial(`${mode}: an upload cut off by closing the tab is under Unfinished uploads and resumes from the server's offset`, async (t) => {
    const stack = await suite.stack(mode);
    const person = await stack.person('Katherine');
    const katherine = await stack.signedIn(t, person);
    const first = await katherine.page();
    await first.goto('/');
    await button(first, 'Log out').waitFor({ timeout: ACTION_TIMEOUT_MS });
    // Larger than what the socket buffers on loopback hold beyond the throttled progress:
    // with a small file the server already had every byte when the tab closed.
    const file = files.make(`interrupted-${mode}.bin`, 24 * MiB);
    const network = await throttleUploads(first, 384 * 1024);
    await upload(first, [file], 'Resumable (tus)');
    await waitForProgress(first, 8);
    katherine.allow(ABORTED_UPLOAD);
    katherine.allow(CUT_OFF);
    await network.cut();
    await first.close();

    // The upload stays listed as unfinished (once the aborted request is done with); the
    // offset it lists may lag the store's (HEAD is the authority), never lead it.
    let serverOffset = -1;
    const seenOffsets: number[] = [];
    await eventually(async () => {
      const before = serverOffset;
      serverOffset = (await unfinishedUploads(stack.baseUrl, person.auth)).find((u) => u.name === file.name)?.offset ?? -1;
      seenOffsets.push(serverOffset);
      return serverOffset >= 0 && serverOffset === before;
    }, 'the server to list the upload as unfinished, its offset settled').catch(async (err: Error) => {
      const asFile = await getJson<{ items: Array<{ name: string; size: number }> }>(`${stack.baseUrl}/api/files?q=${encodeURIComponent(file.name)}`, person.auth);
      throw new Error(`${err.message}; listed offsets: ${seenOffsets.slice(-5).join(', ')}; as files: ${JSON.stringify(asFile.body.items)}`);
    });
    t.log(`listed offset after the tab closed: ${serverOffset}`);
    katherine.forbid(ABORTED_UPLOAD);
    katherine.forbid(CUT_OFF);

    // Another device: nothing of the first browser's state (Golden Retriever, fingerprints) helps it.
    const laptop = await stack.signedIn(t, person);
    const page = await laptop.page();
    const traffic = new UploadTraffic(page);
    await page.goto('/');
    await navigate(page, 'Unfinished uploads');
    const row = page.getByRole('row', { name: new RegExp(file.name.replace(/[.]/g, '\\.')) });
    await row.waitFor({ timeout: ACTION_TIMEOUT_MS });
    const chooser = page.waitForEvent('filechooser', { timeout: ACTION_TIMEOUT_MS });
    await button(row, 'Resume').click();
    await (await chooser).setFiles(file.path);

    await eventually(async () => (await unfinishedUploads(stack.baseUrl, person.auth)).every((u) => u.name !== file.name), 'the upload to finish', 60_000);
    t.log(describe(traffic.requests));
    t.deepEqual(traffic.requests.filter(isTusCreation), [], 'resuming creates no new upload');
    const resumedAt = Number(traffic.requests.find(isTusPatch)?.headers['upload-offset']);
    t.is(resumedAt, Number(traffic.requests.find(isTusHead)?.responseHeaders?.['upload-offset']), 'the first PATCH starts at the offset the HEAD answered');
    t.true(resumedAt > 0 && resumedAt >= serverOffset, `the server listed ${serverOffset} bytes stored; the upload resumes at ${resumedAt}`);
    await navigate(page, 'My files');
    await fileRow(page, file.name).first().waitFor({ timeout: ACTION_TIMEOUT_MS });
    await expectListedOnce(t, stack, person, page, file.name);
    const downloaded = await downloadedSha256(page, () => fileAction(page, file.name, 'Download'));
    t.is(downloaded.sha256, file.sha256);
    katherine.assertNothingWentWrong(t, 'the browser whose tab was closed');
    laptop.assertNothingWentWrong(t, 'the browser that resumed');
  });
}

/** One upload, one file: on the server and on the screen. */
async function expectListedOnce(t: ExecutionContext, stack: Stack, person: Person, page: Page, name: string): Promise<void> {
  const listed = await getJson<{ items: Array<{ name: string }> }>(`${stack.baseUrl}/api/files?q=${encodeURIComponent(name)}`, person.auth);
  t.is(listed.body.items.filter((f) => f.name === name).length, 1, `the server holds one file named ${name}`);
  t.is(await fileRow(page, name).count(), 1, `My files lists ${name} once`);
}

/** The upload requests in a line each, for the log of a failed run. */
function describe(requests: UploadRequest[]): string {
  return requests
    .map((r) => {
      const url = new URL(r.url);
      const offset = r.headers['upload-offset'] ? ` at ${r.headers['upload-offset']}` : '';
      const answered = r.responseHeaders?.['upload-offset'] ? ` -> offset ${r.responseHeaders['upload-offset']}` : '';
      const part = partNumberOf(r) ? ` part ${partNumberOf(r)}` : '';
      const body = r.body ? ` ${r.body}` : '';
      return `${r.method} ${url.host === new URL(requests[0]!.url).host ? url.pathname : url.host + url.pathname}${part}${offset}: ${r.status ?? 'no answer'}${answered}${body}`;
    })
    .join('\n');
}
