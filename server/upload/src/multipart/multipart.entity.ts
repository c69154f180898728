import { BigIntType, EntitySchema } from '@mikro-orm/postgresql';

/** The store's own id of a multipart upload (S3's UploadId), beside its upload session. */
export interface MultipartUpload {
  sessionId: string;
  storeUploadId: string;
}

export const MultipartUploadSchema = new EntitySchema<MultipartUpload>({
  name: 'MultipartUpload',
  tableName: 'multipart_uploads',
  properties: {
    sessionId: { type: 'string', primary: true, fieldName: 'session_id' },
    storeUploadId: { type: 'string', fieldName: 'store_upload_id' },
  },
});

/** One part of a direct upload as the client reported it or the store listed it. */
export interface MultipartPart {
  uploadId: string;
  partNumber: number;
  size: number;
  etag: string;
  createdAt: Date;
}

export const MultipartPartSchema = new EntitySchema<MultipartPart>({
  name: 'MultipartPart',
  tableName: 'upload_parts',
  properties: {
    uploadId: { type: 'string', primary: true, fieldName: 'upload_id' },
    partNumber: { type: 'integer', primary: true, fieldName: 'part_number' },
    size: { type: new BigIntType('number') },
    etag: { type: 'string' },
    createdAt: { type: 'Date', fieldName: 'created_at' },
  },
});
