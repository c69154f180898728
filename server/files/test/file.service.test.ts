import test from 'ava';
import { randomUUID } from 'node:crypto';
import { AppError } from '@govault/lib';
import type { FileRecord } from '../src/file/file.entity.ts';
import type { FileListQuery, FileRepository } from '../src/file/file.repository.ts';
import { FileService } from '../src/file/file.service.ts';
import type { ObjectContent, ObjectStorage } from '../src/storage/object-storage.ts';

/** In-memory FileRepository with the same ordering and uniqueness rules as the table. */
class FakeFileRepository implements FileRepository {
  readonly rows: FileRecord[] = [];

  async insertOnce(file: FileRecord): Promise<FileRecord> {
    const existing = this.rows.find((r) => r.uploadId === file.uploadId);
    if (existing) return { ...existing };
    this.rows.push({ ...file });
    return { ...file };
  }

  async findById(id: string): Promise<FileRecord | null> {
    const row = this.rows.find((r) => r.id === id);
    return row ? { ...row } : null;
  }

  async list(query: FileListQuery): Promise<FileRecord[]> {
    const key = (r: FileRecord) => (query.state === 'active' ? r.createdAt : r.deletedAt!).getTime();
    const before = (r: FileRecord) =>
      !query.after || key(r) < query.after.at.getTime() || (key(r) === query.after.at.getTime() && r.id < query.after.id);
    return this.rows
      .filter((r) => r.ownerId === query.ownerId && (query.state === 'active') === (r.deletedAt === null))
      .filter((r) => !query.nameContains || r.name.toLowerCase().includes(query.nameContains.toLowerCase()))
      .filter(before)
      .sort((a, b) => key(b) - key(a) || (a.id < b.id ? 1 : -1))
      .slice(0, query.limit);
  }
}

class FakeStorage implements ObjectStorage {
  async content(key: string): Promise<ObjectContent | undefined> {
    return key === 'missing' ? undefined : { kind: 'redirect', url: `https://s3.example/${key}` };
  }
  async check(): Promise<void> {}
}

function setup() {
  const repository = new FakeFileRepository();
  return { repository, service: new FileService(repository, new FakeStorage()) };
}

const newFile = (ownerId: string, overrides: Partial<{ uploadId: string; storageKey: string; name: string }> = {}) => ({
  uploadId: randomUUID(),
  ownerId,
  name: 'a.txt',
  size: 1,
  contentType: 'text/plain',
  storageKey: 'key',
  ...overrides,
});

const status = (err: unknown) => (err as AppError).status;

test('registration is idempotent on the upload id and refuses another owner', async (t) => {
  const { service } = setup();
  const owner = randomUUID();
  const input = newFile(owner);
  const first = await service.register(input);
  const second = await service.register(input);
  t.true(first.created);
  t.false(second.created);
  t.is(second.file.id, first.file.id);
  const err = await t.throwsAsync(service.register({ ...input, ownerId: randomUUID() }));
  t.is(status(err), 409);
});

test('a private file is not found for anyone but its owner; a public one is readable until trashed', async (t) => {
  const { service, repository } = setup();
  const owner = randomUUID();
  const stranger = randomUUID();
  const { file } = await service.register(newFile(owner));
  t.is((await service.get(owner, file.id)).role, 'owner');
  t.is(status(await t.throwsAsync(service.get(stranger, file.id))), 404);
  t.is(status(await t.throwsAsync(service.content(stranger, file.id))), 404);

  repository.rows[0]!.visibility = 'public';
  t.is((await service.get(stranger, file.id)).role, 'public');
  t.like(await service.content(stranger, file.id), { content: { kind: 'redirect' } });

  repository.rows[0]!.deletedAt = new Date();
  t.is(status(await t.throwsAsync(service.get(stranger, file.id))), 404);
  t.is((await service.get(owner, file.id)).role, 'owner');
});

test('content of a file whose object is gone is not found', async (t) => {
  const { service } = setup();
  const owner = randomUUID();
  const { file } = await service.register(newFile(owner, { storageKey: 'missing' }));
  t.is(status(await t.throwsAsync(service.content(owner, file.id))), 404);
});

test('a page carries a cursor only when more items follow', async (t) => {
  const { service, repository } = setup();
  const owner = randomUUID();
  for (let i = 0; i < 5; i++) await service.register(newFile(owner));
  repository.rows.forEach((r, i) => (r.createdAt = new Date(Date.UTC(2024, 0, 1, 0, 0, i))));
  const first = await service.list(owner, { view: 'owned', limit: 2 });
  const second = await service.list(owner, { view: 'owned', limit: 2, cursor: first.nextCursor! });
  const third = await service.list(owner, { view: 'owned', limit: 2, cursor: second.nextCursor! });
  t.deepEqual(
    [...first.items, ...second.items, ...third.items].map((f) => f.id),
    [...repository.rows].reverse().map((r) => r.id),
  );
  t.is(third.nextCursor, null);
  t.is(status(await t.throwsAsync(service.list(owner, { view: 'shared', limit: 2 }))), 400);
  t.is(status(await t.throwsAsync(service.list(owner, { view: 'trash', limit: 2, cursor: first.nextCursor! }))), 400);
});
