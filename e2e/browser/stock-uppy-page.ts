import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

/** What browser/stock-uppy/main.ts's `uploadAll` resolves with. */
export interface UploadOutcome {
  files: Array<{ name: string; size: number; sha256: string; uploadUrl?: string }>;
  failed: string[];
  errors: string[];
}

/** The page's `window`, as a test calls it through `page.evaluate`. */
export type StockUppyPage = {
  uploadAll(token: string, files: Array<{ name: string; size: number }>, tusOptions?: { parallelUploads?: number }): Promise<UploadOutcome>;
};

/** The stock-Uppy page, built by Vite into a fresh folder; the gateway serves it as its web app (WEB_APP_DIR). */
export async function buildStockUppyPage(): Promise<string> {
  const outDir = mkdtempSync(join(tmpdir(), 'govault-stock-uppy-'));
  await build({ root: fileURLToPath(new URL('./stock-uppy/', import.meta.url)), logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  return outDir;
}
