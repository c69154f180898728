import type { ServiceClient } from '@govault/lib';

export interface FileRegistration {
  uploadId: string;
  ownerId: string;
  name: string;
  size: number;
  contentType: string;
  storageKey: string;
  /** The SHA-256 the uploader declared ("sha256:<hex>"), or null. */
  checksum: string | null;
}

/** Where finished uploads become files: the files service, in production. */
export interface FileRegistry {
  register(registration: FileRegistration, requestId?: string): Promise<{ id: string }>;
}

export class FilesServiceRegistry implements FileRegistry {
  constructor(private readonly files: ServiceClient) {}

  register(registration: FileRegistration, requestId?: string): Promise<{ id: string }> {
    return this.files.call<{ id: string }>('POST', '/internal/files', {
      body: registration,
      requestId,
      userId: registration.ownerId,
    });
  }
}
