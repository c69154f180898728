import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Locator, Page } from 'playwright-core';
import { ACTION_TIMEOUT_MS, type Person } from './harness.ts';

/**
 * What a person does in the GoVault web app, by the accessible names of ARCHITECTURE.md
 * "Web app" only: these helpers must hold for any app that keeps that contract.
 */

export type UploadMode = 'Resumable (tus)' | 'Direct (S3 multipart)';

const exact = (text: string) => new RegExp(`^${escapeRegExp(text)}$`);
export const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function button(scope: Page | Locator, name: string): Locator {
  return scope.getByRole('button', { name, exact: true });
}

/** Signed in: the frame's "Log out" is there. */
export async function expectSignedIn(page: Page): Promise<void> {
  await button(page, 'Log out').waitFor({ timeout: ACTION_TIMEOUT_MS });
}

export async function logInThroughUi(page: Page, person: Pick<Person, 'email' | 'password'>): Promise<void> {
  await page.goto('/login');
  await page.getByLabel(/e-?mail/i).fill(person.email);
  await fillPasswords(page, person.password);
  await button(page, 'Log in').click();
  await expectSignedIn(page);
}

/** Registers; an app that signs the new user in at once is logged out again, so that the caller logs in as a returning user. */
export async function registerThroughUi(page: Page, person: Pick<Person, 'email' | 'password' | 'displayName'>): Promise<void> {
  await page.goto('/register');
  await page.getByLabel(/e-?mail/i).fill(person.email);
  const displayName = page.getByLabel(/name/i);
  if ((await displayName.count()) === 1) await displayName.fill(person.displayName);
  await fillPasswords(page, person.password);
  await button(page, 'Register').click();
  await button(page, 'Log out').or(button(page, 'Log in')).waitFor({ timeout: ACTION_TIMEOUT_MS });
  if (await button(page, 'Log out').isVisible()) {
    await button(page, 'Log out').click();
    await button(page, 'Log in').waitFor({ timeout: ACTION_TIMEOUT_MS });
  }
}

/** Every password field (a confirmation field included) gets the same password. */
async function fillPasswords(page: Page, password: string): Promise<void> {
  const fields = page.getByLabel(/password/i);
  for (const field of await fields.all()) await field.fill(password);
}

export async function navigate(page: Page, link: 'My files' | 'Shared with me' | 'Shortcuts' | 'Trash' | 'Unfinished uploads'): Promise<void> {
  await page.getByRole('link', { name: link, exact: true }).click();
}

/** A file's row: its accessible name contains the file's name. */
export function fileRow(page: Page, name: string): Locator {
  return page.getByRole('row', { name: new RegExp(escapeRegExp(name)) });
}

export function fileRows(page: Page): Locator {
  return page.getByRole('row').filter({ has: page.getByRole('button') });
}

/**
 * A choice named `name`: a native select (combobox), a radio group, or a listbox. Picks `option` by its label.
 */
export async function choose(scope: Page | Locator, name: string, option: string): Promise<void> {
  const select = scope.getByRole('combobox', { name, exact: true });
  const group = scope.getByRole('radiogroup', { name, exact: true });
  await select.or(group).first().waitFor({ timeout: ACTION_TIMEOUT_MS });
  if ((await select.count()) > 0) await select.selectOption({ label: option });
  else await group.getByRole('radio', { name: option, exact: true }).check();
}

/** The row's actions, buttons in the row or items of its menu, by name. */
export async function actionsOf(page: Page, name: string): Promise<string[]> {
  const row = fileRow(page, name);
  await row.waitFor({ timeout: ACTION_TIMEOUT_MS });
  const names = await accessibleNames(row.getByRole('button').or(row.getByRole('link')));
  const menu = menuTrigger(row);
  if ((await menu.count()) === 0) return names;
  await menu.click();
  const items = page.getByRole('menuitem');
  await items.first().waitFor({ timeout: ACTION_TIMEOUT_MS });
  const menuNames = await accessibleNames(items);
  await page.keyboard.press('Escape');
  await items.first().waitFor({ state: 'hidden', timeout: ACTION_TIMEOUT_MS });
  return [...names, ...menuNames];
}

/** Runs a file's action: its button in the row, else the item of the row's menu. */
export async function fileAction(page: Page, name: string, action: string): Promise<void> {
  const row = fileRow(page, name);
  await row.waitFor({ timeout: ACTION_TIMEOUT_MS });
  const direct = row.getByRole('button', { name: action, exact: true });
  if ((await direct.count()) > 0) return direct.click();
  const menu = menuTrigger(row);
  if ((await menu.count()) === 0) throw new Error(`the row of ${name} has no action "${action}" and no menu`);
  await menu.click();
  await page.getByRole('menuitem', { name: action, exact: true }).click();
}

function menuTrigger(row: Locator): Locator {
  return row.locator('[aria-haspopup="menu"], [aria-haspopup="true"]');
}

async function accessibleNames(locator: Locator): Promise<string[]> {
  const names: string[] = [];
  for (const element of await locator.all()) {
    if (!(await element.isVisible())) continue;
    const snapshot = await element.ariaSnapshot();
    // `- button "Rename"` → Rename
    const match = /^- \w+ "(.*?)"/.exec(snapshot);
    names.push(match ? match[1]! : (await element.innerText()).trim());
  }
  return names;
}

/** Waits until the row of `name` offers `action` (or, with `present` false, until it does not). */
export async function expectAction(page: Page, name: string, action: string, present = true): Promise<boolean> {
  const actions = await actionsOf(page, name);
  return actions.includes(action) === present;
}

export function dialogNamed(page: Page, name: string | RegExp): Locator {
  const matcher = typeof name === 'string' ? exact(name) : name;
  return page.getByRole('dialog', { name: matcher }).or(page.getByRole('alertdialog', { name: matcher }));
}

export async function closeDialog(page: Page, dialog: Locator): Promise<void> {
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden', timeout: ACTION_TIMEOUT_MS });
}

/** Renames through the rename dialog (textbox "Name", button "Save"). */
export async function renameThroughUi(page: Page, name: string, newName: string): Promise<void> {
  await fileAction(page, name, 'Rename');
  const dialog = page.getByRole('dialog').filter({ has: page.getByRole('textbox', { name: 'Name', exact: true }) });
  await dialog.getByRole('textbox', { name: 'Name', exact: true }).fill(newName);
  await button(dialog, 'Save').click();
  await dialog.waitFor({ state: 'hidden', timeout: ACTION_TIMEOUT_MS });
}

/** A confirmation names its action: the dialog's button carries the action's own name. */
export async function confirm(page: Page, action: string): Promise<void> {
  const dialog = page.getByRole('alertdialog').or(page.getByRole('dialog')).filter({ has: button(page, action) });
  await button(dialog, action).click();
  await dialog.waitFor({ state: 'hidden', timeout: ACTION_TIMEOUT_MS });
}

export function searchBox(page: Page): Locator {
  return page.getByRole('searchbox', { name: 'Search files', exact: true }).or(page.getByRole('textbox', { name: 'Search files', exact: true }));
}

/** The sha256 of what the browser saved when `start` triggered a download. */
export async function downloadedSha256(page: Page, start: () => Promise<unknown>): Promise<{ sha256: string; suggestedFilename: string }> {
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: ACTION_TIMEOUT_MS }), start()]);
  const path = await download.path();
  return { sha256: createHash('sha256').update(await readFile(path)).digest('hex'), suggestedFilename: download.suggestedFilename() };
}
