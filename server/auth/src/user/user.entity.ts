import { EntitySchema } from '@mikro-orm/postgresql';

export interface User {
  id: string;
  email: string;
  displayName: string | null;
  passwordHash: string | null;
  tokenVersion: number;
  createdAt: Date;
  updatedAt: Date;
}

export const UserEntity = new EntitySchema<User>({
  name: 'User',
  tableName: 'users',
  properties: {
    id: { type: 'uuid', primary: true },
    email: { type: 'text' },
    displayName: { type: 'text', nullable: true },
    passwordHash: { type: 'text', nullable: true },
    tokenVersion: { type: 'integer' },
    createdAt: { type: 'datetime' },
    updatedAt: { type: 'datetime' },
  },
});
