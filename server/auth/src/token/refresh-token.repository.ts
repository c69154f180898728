import type { MikroORM } from '@mikro-orm/postgresql';
import { RefreshTokenEntity, type RefreshToken } from './refresh-token.entity.ts';

export interface RefreshTokenRepository {
  insert(token: RefreshToken): Promise<void>;
  findByHash(tokenHash: string): Promise<RefreshToken | undefined>;
  findById(id: string): Promise<RefreshToken | undefined>;
  /**
   * Revokes `oldId` in favour of `next` and stores `next`, atomically. False when `oldId`
   * was already revoked (another request rotated it first): nothing is stored then.
   */
  rotate(oldId: string, next: RefreshToken): Promise<boolean>;
  revokeFamily(familyId: string): Promise<void>;
  revokeAllOfUser(userId: string): Promise<void>;
}

export class MikroOrmRefreshTokenRepository implements RefreshTokenRepository {
  constructor(private readonly orm: MikroORM) {}

  async insert(token: RefreshToken): Promise<void> {
    await this.orm.em.fork().insert(RefreshTokenEntity, token);
  }

  async findByHash(tokenHash: string): Promise<RefreshToken | undefined> {
    const row = await this.orm.em.fork().findOne(RefreshTokenEntity, { tokenHash });
    return row ? { ...row } : undefined;
  }

  async findById(id: string): Promise<RefreshToken | undefined> {
    const row = await this.orm.em.fork().findOne(RefreshTokenEntity, { id });
    return row ? { ...row } : undefined;
  }

  async rotate(oldId: string, next: RefreshToken): Promise<boolean> {
    return this.orm.em.fork().transactional(async (em) => {
      const revoked = await em.nativeUpdate(
        RefreshTokenEntity,
        { id: oldId, revokedAt: null },
        { revokedAt: next.createdAt, replacedBy: next.id },
      );
      if (revoked === 0) return false;
      await em.insert(RefreshTokenEntity, next);
      return true;
    });
  }

  async revokeFamily(familyId: string): Promise<void> {
    await this.orm.em.fork().nativeUpdate(RefreshTokenEntity, { familyId, revokedAt: null }, { revokedAt: new Date() });
  }

  async revokeAllOfUser(userId: string): Promise<void> {
    await this.orm.em.fork().nativeUpdate(RefreshTokenEntity, { userId, revokedAt: null }, { revokedAt: new Date() });
  }
}
