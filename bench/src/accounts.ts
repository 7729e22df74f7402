/**
 * The `bench_accounts` table the read and read-write workloads use: 10,000 rows, each op on one
 * chosen uniformly at random (so contention stays low, as in pgbench's own TPC-B-like test).
 */
import type pg from 'pg'

export const ACCOUNT_COUNT = 10_000

/** A uniformly random account id in 1..ACCOUNT_COUNT, as pgbench's `random(1, 10000)`. */
export function randomAccountId(): number {
  return 1 + Math.floor(Math.random() * ACCOUNT_COUNT)
}

export async function createAccountsTable(admin: pg.Client): Promise<void> {
  await admin.query('DROP TABLE IF EXISTS bench_accounts')
  await admin.query('CREATE TABLE bench_accounts (id int PRIMARY KEY, balance int NOT NULL)')
  await admin.query('INSERT INTO bench_accounts (id, balance) SELECT g, 0 FROM generate_series(1, $1::int) AS g', [ACCOUNT_COUNT])
  await admin.query('VACUUM ANALYZE bench_accounts')
}

/**
 * Every read-write run leaves dead row versions behind; vacuuming before each run gives every
 * peer the same table rather than one bloated by the peers that ran before it.
 */
export async function vacuumAccounts(admin: pg.Client): Promise<void> {
  await admin.query('VACUUM bench_accounts')
}

export async function dropAccountsTable(admin: pg.Client): Promise<void> {
  await admin.query('DROP TABLE IF EXISTS bench_accounts')
}
