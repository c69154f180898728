import type { FilterQuery, MikroORM } from '@mikro-orm/postgresql';
import { FileEntity, type FileRecord } from './file.entity.ts';

/** A position in a list: the sort timestamp and id of the last item seen. */
export interface ListPosition {
  at: Date;
  id: string;
}

export interface FileListQuery {
  ownerId: string;
  /** active: newest created first; trashed: newest deleted first. */
  state: 'active' | 'trashed';
  limit: number;
  after?: ListPosition;
  /** Case-insensitive substring of the name. */
  nameContains?: string;
}

export interface FileRepository {
  /** Inserts unless a file with that upload id exists; answers the stored file either way. */
  insertOnce(file: FileRecord): Promise<FileRecord>;
  findById(id: string): Promise<FileRecord | null>;
  list(query: FileListQuery): Promise<FileRecord[]>;
}

export class MikroOrmFileRepository implements FileRepository {
  constructor(private readonly orm: MikroORM) {}

  async insertOnce(file: FileRecord): Promise<FileRecord> {
    const em = this.orm.em.fork();
    // ON CONFLICT DO NOTHING waits for a concurrent insert of the same upload id to
    // commit, so the select after it always finds the one row.
    await em.createQueryBuilder(FileEntity).insert(file).onConflict('uploadId').ignore().execute();
    return em.findOneOrFail(FileEntity, { uploadId: file.uploadId });
  }

  async findById(id: string): Promise<FileRecord | null> {
    return this.orm.em.fork().findOne(FileEntity, { id });
  }

  async list(query: FileListQuery): Promise<FileRecord[]> {
    const sortKey = query.state === 'active' ? 'createdAt' : 'deletedAt';
    const where: FilterQuery<FileRecord> = {
      ownerId: query.ownerId,
      deletedAt: query.state === 'active' ? null : { $ne: null },
    };
    if (query.nameContains) where.name = { $ilike: `%${escapeLike(query.nameContains)}%` };
    if (query.after) {
      const { at, id } = query.after;
      where.$or = [{ [sortKey]: { $lt: at } }, { [sortKey]: at, id: { $lt: id } }];
    }
    return this.orm.em.fork().find(FileEntity, where, {
      orderBy: { [sortKey]: 'desc', id: 'desc' },
      limit: query.limit,
    });
  }
}

/** LIKE's wildcards and its escape character (backslash by default) match literally. */
function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}
