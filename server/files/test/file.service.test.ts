import test from 'ava';
import { randomUUID } from 'node:crypto';
import { AppError, createLogger } from '@govault/lib';
import type { FileRecord } from '../src/file/file.entity.ts';
import type { FileChanges, FileListQuery, FileRepository, ListedFile } from '../src/file/file.repository.ts';
import { FileService } from '../src/file/file.service.ts';
import type { ObjectContent, ObjectStorage } from '../src/storage/object-storage.ts';
import type { ObjectDeletionRepository, QueuedDeletion } from '../src/trash/object-deletion.repository.ts';
import { ObjectReaper } from '../src/trash/object-reaper.ts';

/** In-memory FileRepository with the owned/trash ordering and uniqueness rules of the table (no shares). */
class FakeFileRepository implements FileRepository {
  readonly rows: FileRecord[] = [];
  readonly queued: string[] = [];

  async insertOnce(file: FileRecord): Promise<FileRecord> {
    const existing = this.rows.find((r) => r.uploadId === file.uploadId);
    if (existing) return { ...existing };
    this.rows.push({ ...file });
    return { ...file };
  }

  async findForUser(id: string) {
    const row = this.rows.find((r) => r.id === id);
    return row ? { file: { ...row }, shareRole: null } : null;
  }

  async list(query: FileListQuery): Promise<ListedFile[]> {
    const active = query.view === 'owned';
    const key = (r: FileRecord) => (active ? r.createdAt : r.deletedAt!).getTime();
    const before = (r: FileRecord) =>
      !query.after || key(r) < query.after.at.getTime() || (key(r) === query.after.at.getTime() && r.id < query.after.id);
    return this.rows
      .filter((r) => r.ownerId === query.userId && active === (r.deletedAt === null))
      .filter((r) => !query.nameContains || r.name.toLowerCase().includes(query.nameContains.toLowerCase()))
      .filter(before)
      .sort((a, b) => key(b) - key(a) || (a.id < b.id ? 1 : -1))
      .slice(0, query.limit)
      .map((file) => ({ file: { ...file }, shareRole: null, position: { at: new Date(key(file)), id: file.id } }));
  }

  async update(id: string, changes: FileChanges): Promise<FileRecord | null> {
    const row = this.rows.find((r) => r.id === id);
    if (!row) return null;
    Object.assign(row, changes);
    return { ...row };
  }

  async deletePermanently(id: string): Promise<string | null> {
    const index = this.rows.findIndex((r) => r.id === id);
    if (index < 0) return null;
    const [row] = this.rows.splice(index, 1);
    this.queued.push(row!.storageKey);
    return row!.storageKey;
  }

  async purgeTrashedBefore(): Promise<string[]> {
    return [];
  }
}

class FakeStorage implements ObjectStorage {
  readonly deleted: string[] = [];
  async content(key: string): Promise<ObjectContent | undefined> {
    return key === 'missing' ? undefined : { kind: 'redirect', url: `https://s3.example/${key}` };
  }
  async delete(key: string): Promise<void> {
    this.deleted.push(key);
  }
  async check(): Promise<void> {}
}

class FakeDeletionQueue implements ObjectDeletionRepository {
  readonly done_: string[] = [];
  async claimDue(): Promise<QueuedDeletion[]> {
    return [];
  }
  async done(key: string): Promise<void> {
    this.done_.push(key);
  }
  async failed(_key: string, _error: string, _retryAt: Date): Promise<void> {}
  async pending(): Promise<QueuedDeletion[]> {
    return [];
  }
}

function setup() {
  const repository = new FakeFileRepository();
  const storage = new FakeStorage();
  const queue = new FakeDeletionQueue();
  const reaper = new ObjectReaper(queue, storage, createLogger('files', 'silent'));
  return { repository, storage, queue, service: new FileService(repository, storage, reaper) };
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
  t.is(status(await t.throwsAsync(service.list(owner, { view: 'trash', limit: 2, cursor: first.nextCursor! }))), 400);
});

test('only the owner manages a file; trash, restore and permanent delete', async (t) => {
  const { service, repository, storage, queue } = setup();
  const owner = randomUUID();
  const { file } = await service.register(newFile(owner, { storageKey: 'obj-1' }));
  const public_ = await service.register(newFile(owner));
  repository.rows[1]!.visibility = 'public';

  t.is(status(await t.throwsAsync(service.trash(randomUUID(), file.id))), 404);
  t.is(status(await t.throwsAsync(service.trash(randomUUID(), public_.file.id))), 403);
  t.is(status(await t.throwsAsync(service.update(randomUUID(), public_.file.id, { name: 'x' }))), 403);

  await service.trash(owner, file.id);
  const trashedAt = repository.rows[0]!.deletedAt;
  t.truthy(trashedAt);
  await service.trash(owner, file.id);
  t.is(repository.rows[0]!.deletedAt, trashedAt, 'trashing again keeps the first time');
  t.is(status(await t.throwsAsync(service.update(owner, file.id, { name: 'x' }))), 409);
  t.is((await service.restore(owner, file.id)).deletedAt, null);

  await service.deletePermanently(owner, file.id);
  t.deepEqual(storage.deleted, ['obj-1']);
  t.deepEqual(queue.done_, ['obj-1']);
  t.is(status(await t.throwsAsync(service.get(owner, file.id))), 404);
});

test('a failed object delete stays queued with backoff; the row is gone already', async (t) => {
  const storage = new FakeStorage();
  let failures = 1;
  storage.delete = async () => {
    if (failures-- > 0) throw new Error('S3 is down');
  };
  const failed: Array<{ key: string; retryAt: Date }> = [];
  const queue = new FakeDeletionQueue();
  queue.failed = async (key: string, _error: string, retryAt: Date) => void failed.push({ key, retryAt });
  const now = Date.parse('2024-01-01T00:00:00Z');
  const reaper = new ObjectReaper(queue, storage, createLogger('files', 'silent'), () => now);
  t.false(await reaper.delete('k', 3));
  t.deepEqual(failed, [{ key: 'k', retryAt: new Date(now + 8000) }]);
  t.true(await reaper.delete('k', 4));
  t.deepEqual(queue.done_, ['k']);
});
