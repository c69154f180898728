import { randomUUID } from 'node:crypto';
import { conflict, notFound, unauthenticated } from '@govault/lib';
import type { User } from './user.entity.ts';
import { isComparablePassword, type PasswordHasher } from './password-hasher.ts';
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
  ) {}

  async register(input: Registration): Promise<User> {
    const now = new Date();
    const user: User = {
      id: randomUUID(),
      email: input.email,
      displayName: input.displayName ?? null,
      passwordHash: await this.passwords.hash(input.password),
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

  /** The same 401 for an unknown email and a wrong password, after the same bcrypt work. */
  async authenticate(email: string, password: string): Promise<User> {
    const user = await this.users.findByEmail(email);
    const valid = await this.passwords.verify(password, user?.passwordHash);
    if (!user || !valid || !isComparablePassword(password)) {
      throw unauthenticated('Invalid email or password');
    }
    return user;
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
}
