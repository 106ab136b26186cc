// The PostgreSQL store's held-back writes, one statement for several tables (store/postgres.ts:
// writtenTogether): it answers the count each wrote, and fails unless each wrote the count it was
// given (a delete, at most that count), so that the COMMIT sent right behind it, before its answer is read, answers ROLLBACK and
// nothing of the transaction is kept. Real server, a table of its own in a fresh schema.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writtenTogether } from '../../src/store/postgres.js';
import { freshSchemaPrefix, postgresAvailable, postgresUrl } from '../helpers/postgres.js';

const available = await postgresAvailable();
const schema = `${freshSchemaPrefix()}_held`;
const client = new pg.Client({ connectionString: postgresUrl });

const intoA = `INSERT INTO ${schema}.a (n) SELECT * FROM unnest($1::int[])`;
const intoB = `INSERT INTO ${schema}.b (n, label) SELECT * FROM unnest($1::int[], $2::text[])`;
const fromA = `DELETE FROM ${schema}.a WHERE n = ANY($1::int[])`;
const rowsOf = async (table: string) =>
  (await client.query(`SELECT count(*)::int AS n FROM ${schema}.${table}`)).rows[0].n as number;

beforeAll(async () => {
  if (!available) return;
  await client.connect();
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.query(`CREATE TABLE ${schema}.a (n int PRIMARY KEY)`);
  await client.query(`CREATE TABLE ${schema}.b (n int PRIMARY KEY, label text NOT NULL)`);
});

afterAll(async () => {
  if (!available) return;
  await client.query(`DROP SCHEMA ${schema} CASCADE`);
  await client.end();
});

describe.skipIf(!available)('held-back writes in one statement (PostgreSQL)', () => {
  it('answers the count each wrote when each wrote its count', async () => {
    await client.query('BEGIN');
    const answer = await client.query(writtenTogether([intoA, intoB]), [
      [1, 2, 3],
      [1, 2],
      ['one', 'two'],
      3,
      2,
    ]);
    expect((await client.query('COMMIT')).command).toBe('COMMIT');
    expect(answer.rows).toEqual([{ w0: 3, w1: 2, all_written: 1 }]);
    expect([await rowsOf('a'), await rowsOf('b')]).toEqual([3, 2]);
  });

  it('fails when one wrote short, and the COMMIT behind it answers ROLLBACK', async () => {
    await client.query('BEGIN');
    await client.query(`INSERT INTO ${schema}.a (n) VALUES (10)`);
    await expect(
      client.query(writtenTogether([intoA, intoB]), [[11], [11], ['eleven'], 1, 2]),
    ).rejects.toMatchObject({ code: '22012' });
    expect((await client.query('COMMIT')).command).toBe('ROLLBACK');
    expect([await rowsOf('a'), await rowsOf('b')]).toEqual([3, 2]);
  });

  it('lets a delete write fewer than its count: a key not stored is skipped', async () => {
    await client.query('BEGIN');
    const answer = await client.query(writtenTogether([fromA, intoB]), [
      [3, 99],
      [4],
      ['four'],
      2,
      1,
    ]);
    expect((await client.query('COMMIT')).command).toBe('COMMIT');
    expect(answer.rows).toEqual([{ w0: 1, w1: 1, all_written: 1 }]);
    expect([await rowsOf('a'), await rowsOf('b')]).toEqual([2, 3]);
  });

  it('is one statement per set of writes, its counts numbered after their arrays', () => {
    const one = writtenTogether([intoB]);
    expect(one).toBe(writtenTogether([intoB]));
    expect(one).toContain('w0 = $3::int');
    expect(writtenTogether([intoA, intoB])).toContain('w0 = $4::int AND w1 = $5::int');
    expect(writtenTogether([fromA, intoB])).toContain('w0 <= $4::int AND w1 = $5::int');
  });
});
