import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export type PartUrlCheck = 'valid' | 'invalid' | 'expired';

/**
 * Embedded mode's stand-in for S3 presigning: a part URL carries its expiry and an
 * HMAC-SHA256 over (upload id, part number, expiry), so it opens exactly one part of one
 * upload until it expires, and needs no access token. The key is made at first use in
 * `keyFile` (mode 0600); instances that share DATA_DIR share it.
 */
export class PartUrlSigner {
  private key: Buffer | undefined;

  constructor(
    private readonly keyFile: string,
    private readonly ttlSeconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The query string (`expires=…&signature=…`) for one part. */
  sign(uploadId: string, partNumber: number): string {
    const expires = Math.ceil(this.now() / 1000) + this.ttlSeconds; // at least ttlSeconds from now
    return `expires=${expires}&signature=${this.mac(uploadId, partNumber, expires)}`;
  }

  check(uploadId: string, partNumber: number, expires: unknown, signature: unknown): PartUrlCheck {
    if (typeof expires !== 'string' || !/^\d{1,12}$/.test(expires)) return 'invalid';
    if (typeof signature !== 'string' || !/^[0-9a-f]{64}$/.test(signature)) return 'invalid';
    const expected = Buffer.from(this.mac(uploadId, partNumber, Number(expires)), 'hex');
    if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) return 'invalid';
    return Number(expires) * 1000 < this.now() ? 'expired' : 'valid';
  }

  private mac(uploadId: string, partNumber: number, expires: number): string {
    return createHmac('sha256', this.signingKey()).update(`govault-part\n${uploadId}\n${partNumber}\n${expires}`).digest('hex');
  }

  private signingKey(): Buffer {
    if (!this.key) {
      if (!existsSync(this.keyFile)) this.createKey();
      const key = Buffer.from(readFileSync(this.keyFile, 'utf8').trim(), 'hex');
      if (key.length < 32) throw new Error(`${this.keyFile} does not hold a 256-bit hex key`);
      this.key = key;
    }
    return this.key;
  }

  /** Written aside, then linked into place: another instance never reads a half-written key. */
  private createKey(): void {
    mkdirSync(dirname(this.keyFile), { recursive: true });
    const draft = `${this.keyFile}.${process.pid}.${randomBytes(4).toString('hex')}`;
    writeFileSync(draft, randomBytes(32).toString('hex'), { mode: 0o600 });
    try {
      linkSync(draft, this.keyFile);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      unlinkSync(draft);
    }
  }
}
