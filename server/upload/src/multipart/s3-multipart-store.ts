import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListPartsCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { validationFailed } from '@govault/lib';
import type { MultipartStore, MultipartTarget } from './multipart-store.ts';
import type { StoredPart } from './part-list.ts';

const REFUSED_PARTS = new Set(['InvalidPart', 'InvalidPartOrder', 'EntityTooSmall']);
const isNoSuchUpload = (err: unknown) => (err as { name?: string })?.name === 'NoSuchUpload';

/**
 * S3 mode: the bytes go from the client straight to S3 through presigned UploadPart URLs.
 * `client` talks to S3 from here; `publicClient` signs for the address clients reach
 * (S3_PUBLIC_ENDPOINT) and adds no checksum of an empty body to part URLs.
 */
export class S3MultipartStore implements MultipartStore {
  constructor(
    private readonly client: S3Client,
    private readonly publicClient: S3Client,
    private readonly bucket: string,
    private readonly urlTtlSeconds: number,
  ) {}

  async create(_uploadId: string, key: string, contentType: string): Promise<string> {
    const out = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ContentType: contentType }));
    if (!out.UploadId) throw new Error('CreateMultipartUpload answered no UploadId');
    return out.UploadId;
  }

  partUrl(target: MultipartTarget, partNumber: number): Promise<string> {
    const command = new UploadPartCommand({ Bucket: this.bucket, Key: target.key, UploadId: target.storeUploadId, PartNumber: partNumber });
    return getSignedUrl(this.publicClient, command, { expiresIn: this.urlTtlSeconds });
  }

  /** ListParts answers at most 1,000 parts a page; follow the marker to the end. */
  async listParts(target: MultipartTarget): Promise<StoredPart[] | undefined> {
    const parts: StoredPart[] = [];
    let marker: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListPartsCommand({ Bucket: this.bucket, Key: target.key, UploadId: target.storeUploadId, PartNumberMarker: marker, MaxParts: 1000 }),
        );
        for (const part of page.Parts ?? []) {
          if (part.PartNumber && part.ETag) parts.push({ partNumber: part.PartNumber, size: part.Size ?? 0, etag: part.ETag });
        }
        const next = page.NextPartNumberMarker;
        marker = page.IsTruncated && next && next !== marker ? String(next) : undefined;
      } while (marker);
    } catch (err) {
      if (isNoSuchUpload(err)) return undefined;
      throw err;
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  async complete(target: MultipartTarget, parts: StoredPart[]): Promise<number> {
    await this.client
      .send(
      new CompleteMultipartUploadCommand({
        Bucket: this.bucket,
        Key: target.key,
        UploadId: target.storeUploadId,
        MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
      }),
      )
      .catch((err: { name?: string; message?: string }) => {
        // A part replaced between our check and S3's: the client's list no longer holds.
        if (err.name && REFUSED_PARTS.has(err.name)) throw validationFailed(`S3 refused the part list: ${err.message ?? err.name}`);
        throw err;
      });
    const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: target.key }));
    return head.ContentLength ?? -1;
  }

  async abort(target: MultipartTarget): Promise<void> {
    await this.client
      .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: target.key, UploadId: target.storeUploadId }))
      .catch((err) => {
        if (!isNoSuchUpload(err)) throw err;
      });
  }

  async discardObject(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }
}
