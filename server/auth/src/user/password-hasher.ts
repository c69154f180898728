import bcrypt from 'bcrypt';

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Compares against `hash`, or against a dummy hash when there is none, so that timing tells nothing. */
  verify(password: string, hash: string | null | undefined): Promise<boolean>;
}

/** bcrypt reads at most 72 bytes; longer passwords would be silently truncated. */
export const MAX_PASSWORD_BYTES = 72;
export const MIN_PASSWORD_BYTES = 8;

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
