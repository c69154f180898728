import { randomUUID } from 'node:crypto';
import { conflict, notFound, rateLimited, unauthenticated } from '@govault/lib';
import { ClientQueueFull, type FairScheduler } from '../password/fair-scheduler.ts';
import { isComparablePassword, type PasswordHasher } from '../password/password-hasher.ts';
import type { User } from './user.entity.ts';
import { DuplicateEmailError, type UserRepository } from './user.repository.ts';

export interface Registration {
  email: string;
  password: string;
  displayName?: string;
}

export class UserService {
  constructor(
    private readonly users: UserRepository,
    private readonly passwords: PasswordHasher,
    /** Every bcrypt hash and compare waits its client's turn here. */
    private readonly hashing: FairScheduler,
  ) {}

  /** `client` is the caller's address: it decides whose turn the bcrypt work waits for. */
  async register(input: Registration, client: string): Promise<User> {
    const passwordHash = await this.inTurn(client, () => this.passwords.hash(input.password));
    const now = new Date();
    const user: User = {
      id: randomUUID(),
      email: input.email,
      displayName: input.displayName ?? null,
      passwordHash,
      tokenVersion: 0,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await this.users.insert(user);
    } catch (err) {
      if (err instanceof DuplicateEmailError) throw conflict('A user with this email already exists');
      throw err;
    }
    return user;
  }

  /**
   * The same 401 for an unknown email and a wrong password, after the same bcrypt work.
   * The lookup waits for the client's turn too: a flood's queued logins then hold no
   * database connection and add no query ahead of other clients' logins.
   */
  async authenticate(email: string, password: string, client: string): Promise<User> {
    return this.inTurn(client, async () => {
      const user = await this.users.findByEmail(email);
      const valid = await this.passwords.verify(password, user?.passwordHash);
      if (!user || !valid || !isComparablePassword(password)) throw unauthenticated('Invalid email or password');
      return user;
    });
  }

  async get(id: string): Promise<User> {
    const user = await this.users.findById(id);
    if (!user) throw notFound('user');
    return user;
  }

  async getByEmail(email: string): Promise<User> {
    const user = await this.users.findByEmail(email);
    if (!user) throw notFound('user');
    return user;
  }

  private inTurn<T>(client: string, work: () => Promise<T>): Promise<T> {
    return this.hashing.run(client, work).catch((err: unknown) => {
      if (err instanceof ClientQueueFull) throw rateLimited(err.retryAfterSeconds, 'Too many password checks from your address; try again later');
      throw err;
    });
  }
}
