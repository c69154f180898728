import { normalizeEmail } from '@govault/lib';
import { UniqueConstraintViolationException, type MikroORM } from '@mikro-orm/postgresql';
import { UserEntity, type User } from './user.entity.ts';

export class DuplicateEmailError extends Error {
  constructor() {
    super('email already registered');
  }
}

export interface UserRepository {
  /** Throws DuplicateEmailError when another user has the same normalizeEmail() form. */
  insert(user: User): Promise<void>;
  findById(id: string): Promise<User | undefined>;
  /** By normalizeEmail(email): every spelling of one address finds the same user. */
  findByEmail(email: string): Promise<User | undefined>;
}

export class MikroOrmUserRepository implements UserRepository {
  constructor(private readonly orm: MikroORM) {}

  async insert(user: User): Promise<void> {
    try {
      await this.orm.em.fork().insert(UserEntity, { ...user, emailKey: normalizeEmail(user.email) });
    } catch (err) {
      if (err instanceof UniqueConstraintViolationException) throw new DuplicateEmailError();
      throw err;
    }
  }

  async findById(id: string): Promise<User | undefined> {
    const row = await this.orm.em.fork().findOne(UserEntity, { id });
    return row ? toUser(row) : undefined;
  }

  async findByEmail(email: string): Promise<User | undefined> {
    const row = await this.orm.em.fork().findOne(UserEntity, { emailKey: normalizeEmail(email) });
    return row ? toUser(row) : undefined;
  }
}

/** Plain records out of the repository: callers never hold managed entities. */
function toUser(row: User): User {
  return {
    id: row.id,
    email: row.email,
    displayName: row.displayName,
    passwordHash: row.passwordHash,
    tokenVersion: row.tokenVersion,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
