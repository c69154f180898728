import { BigIntType, EntitySchema } from '@mikro-orm/postgresql';

export type Visibility = 'private' | 'public';

export interface FileRecord {
  id: string;
  ownerId: string;
  uploadId: string;
  name: string;
  /** bigint in the database; a double holds every size up to 2^53 bytes exactly. */
  size: number;
  contentType: string;
  checksum: string | null;
  storageKey: string;
  visibility: Visibility;
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
}

export const FileEntity = new EntitySchema<FileRecord>({
  name: 'File',
  tableName: 'files',
  properties: {
    id: { type: 'uuid', primary: true },
    ownerId: { type: 'uuid' },
    uploadId: { type: 'text', unique: true },
    name: { type: 'text' },
    size: { type: new BigIntType('number') },
    contentType: { type: 'text' },
    checksum: { type: 'text', nullable: true },
    storageKey: { type: 'text' },
    visibility: { type: 'text' },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
    deletedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
  },
});
