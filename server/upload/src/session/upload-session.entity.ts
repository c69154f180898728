import { BigIntType, EntitySchema } from '@mikro-orm/postgresql';

export type UploadState = 'created' | 'uploading' | 'completed' | 'terminated' | 'expired' | 'aborted';

/**
 * tus concatenation: a `partial` upload's bytes become part of a `final` one and never a
 * file of their own; a `final` upload is made of its `concatParts` (partial ids, in order).
 */
export type UploadConcat = 'partial' | 'final';

/** What a creation makes, beside a plain upload: a partial, or a final made of these partial ids in order. */
export type ConcatCreation = { kind: 'partial' } | { kind: 'final'; parts: string[] };

/** One upload as the operator sees it: who, what, how far, where it is stored. */
export interface UploadSession {
  id: string;
  ownerId: string;
  protocol: 'tus' | 'multipart';
  filename: string;
  contentType: string;
  size: number | null;
  offset: number;
  state: UploadState;
  storageKey: string;
  metadata: Record<string, string | null>;
  fileId: string | null;
  createdAt: Date;
  updatedAt: Date;
  completedAt: Date | null;
  concat: UploadConcat | null;
  concatParts: string[] | null;
}

export const UploadSessionSchema = new EntitySchema<UploadSession>({
  name: 'UploadSession',
  tableName: 'upload_sessions',
  properties: {
    id: { type: 'string', primary: true },
    ownerId: { type: 'uuid', fieldName: 'owner_id' },
    protocol: { type: 'string' },
    filename: { type: 'string' },
    contentType: { type: 'string', fieldName: 'content_type' },
    size: { type: new BigIntType('number'), nullable: true },
    offset: { type: new BigIntType('number'), fieldName: 'upload_offset' },
    state: { type: 'string' },
    storageKey: { type: 'string', fieldName: 'storage_key' },
    metadata: { type: 'json' },
    fileId: { type: 'uuid', fieldName: 'file_id', nullable: true },
    createdAt: { type: 'Date', fieldName: 'created_at' },
    updatedAt: { type: 'Date', fieldName: 'updated_at' },
    completedAt: { type: 'Date', fieldName: 'completed_at', nullable: true },
    concat: { type: 'string', nullable: true },
    concatParts: { type: 'json', fieldName: 'concat_parts', nullable: true },
  },
});
