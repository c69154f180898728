import { EntitySchema } from '@mikro-orm/postgresql';

export interface User {
  id: string;
  /** As the user typed it at registration; identity is its normalised form (UserRow.emailKey). */
  email: string;
  displayName: string | null;
  passwordHash: string | null;
  tokenVersion: number;
  createdAt: Date;
  updatedAt: Date;
}

/** The stored row: the user plus normalizeEmail(email), the key every lookup and the unique index use. */
export interface UserRow extends User {
  emailKey: string;
}

export const UserEntity = new EntitySchema<UserRow>({
  name: 'User',
  tableName: 'users',
  properties: {
    id: { type: 'uuid', primary: true },
    email: { type: 'text' },
    emailKey: { type: 'text' },
    displayName: { type: 'text', nullable: true },
    passwordHash: { type: 'text', nullable: true },
    tokenVersion: { type: 'integer' },
    createdAt: { type: 'datetime' },
    updatedAt: { type: 'datetime' },
  },
});
