import { DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { attachmentDisposition } from './content-disposition.ts';
import type { DownloadOptions, ObjectContent, ObjectStorage } from './object-storage.ts';

/**
 * S3 mode: downloads are presigned GETs, signed with the client for the address people
 * outside the system reach (S3_PUBLIC_ENDPOINT). S3 answers the GET with the name and
 * type asked for in the signed `response-content-*` parameters.
 */
export class S3ObjectStorage implements ObjectStorage {
  constructor(
    private readonly client: S3Client,
    private readonly publicClient: S3Client,
    private readonly bucket: string,
    private readonly urlTtlSeconds: number,
  ) {}

  async content(key: string, download: DownloadOptions): Promise<ObjectContent> {
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: key,
      ResponseContentDisposition: attachmentDisposition(download.filename),
      ResponseContentType: download.contentType,
    });
    return { kind: 'redirect', url: await getSignedUrl(this.publicClient, command, { expiresIn: this.urlTtlSeconds }) };
  }

  /** S3 answers DeleteObject on a missing key with 204, so a retry is harmless. */
  async delete(key: string): Promise<void> {
    // @tus/s3-store writes the upload's metadata to `<id>.info` beside the object.
    for (const Key of [key, `${key}.info`]) {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
    }
  }

  async check(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }
}
