import type { MikroORM } from '@mikro-orm/postgresql';

/**
 * Plain SQL on the service's ORM connection, for the statements the ORM has no words
 * for (upserts, SKIP LOCKED claims, conditional counters). Tables are qualified with the
 * service schema; placeholders are `?`.
 */
export class Sql {
  constructor(
    private readonly orm: MikroORM,
    readonly schema: string,
  ) {}

  table(name: string): string {
    return `"${this.schema}"."${name}"`;
  }

  all<T>(query: string, params: unknown[] = []): Promise<T[]> {
    return this.orm.em.getConnection().execute<T[]>(query, params as never[], 'all');
  }

  async run(query: string, params: unknown[] = []): Promise<number> {
    const result = await this.orm.em.getConnection().execute<{ affectedRows: number }>(query, params as never[], 'run');
    return result.affectedRows;
  }
}
