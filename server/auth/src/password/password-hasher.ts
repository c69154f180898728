import bcrypt from 'bcrypt';
import { hasLoneSurrogate } from '@govault/lib';

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Compares against `hash`, or against a dummy hash when there is none, so that timing tells nothing. */
  verify(password: string, hash: string | null | undefined): Promise<boolean>;
}

/** bcrypt reads at most 72 bytes; longer passwords would be silently truncated. */
export const MAX_PASSWORD_BYTES = 72;
export const MIN_PASSWORD_BYTES = 8;

/**
 * False for a login password that no registered password can equal, so the login is
 * simply wrong (401): longer than bcrypt reads (it would compare only the first 72
 * bytes); a NUL (the bcrypt C API and most of its ports read the key as a C string and
 * stop there, so registration refuses it); an unpaired surrogate (UTF-8 encoding turns it
 * into U+FFFD, so "\ud800" would match a password of "\ufffd").
 */
export function isComparablePassword(password: string): boolean {
  return Buffer.byteLength(password, 'utf8') <= MAX_PASSWORD_BYTES && !password.includes('\u0000') && !hasLoneSurrogate(password);
}

export class BcryptPasswordHasher implements PasswordHasher {
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly rounds: number) {}

  hash(password: string): Promise<string> {
    return bcrypt.hash(password, this.rounds);
  }

  async verify(password: string, hash: string | null | undefined): Promise<boolean> {
    this.dummyHash ??= bcrypt.hash('govault-dummy-password', this.rounds);
    const matches = await bcrypt.compare(password, hash ?? (await this.dummyHash));
    return matches && !!hash;
  }
}
