import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
// Not part of the public surface: the built module the OpenTelemetry spans, slow log and dashboard use.
import { labelStatement, shownText } from '../dist/observe/statement-label.js'

const summary = (text: string): string | undefined => labelStatement(text).summary

describe('statement labels for telemetry', () => {
  it('summarises as the OpenTelemetry conventions show: operations and tables in order, as written', () => {
    // The conventions' own examples.
    assert.equal(summary('SELECT * FROM wuser_table WHERE username = $1'), 'SELECT wuser_table')
    assert.equal(
      summary('INSERT INTO shipping_details (order_id, address) SELECT order_id, address FROM orders WHERE order_id = $1'),
      'INSERT shipping_details SELECT orders',
    )
    assert.equal(summary('SELECT * FROM songs, artists WHERE songs.artist_id = artists.id'), 'SELECT songs artists')
    assert.equal(summary('SELECT order_date FROM (SELECT * FROM orders o JOIN customers c ON o.customer_id = c.customer_id)'), 'SELECT SELECT orders customers')
    // Ours.
    assert.equal(summary('select * from "users" where "id" = $1'), 'select "users"')
    assert.equal(summary('UPDATE ONLY public.accounts a SET balance = balance - $1 FROM transfers t WHERE a.id = t.id'), 'UPDATE public.accounts transfers')
    assert.equal(summary('INSERT INTO t (a) VALUES ($1) ON CONFLICT (a) DO UPDATE SET a = excluded.a'), 'INSERT t')
    assert.equal(summary('SELECT * FROM jobs WHERE id = $1 FOR UPDATE SKIP LOCKED'), 'SELECT jobs')
    assert.equal(summary('SELECT extract(epoch FROM now()), substring(name FROM 1 FOR 2) FROM users'), 'SELECT users')
    assert.equal(summary('SELECT g FROM unnest($1::int[]) AS g'), 'SELECT')
    assert.equal(summary('DELETE FROM sessions USING users WHERE sessions.user_id = users.id'), 'DELETE sessions users')
    assert.equal(summary('CREATE TABLE IF NOT EXISTS lessons (id int)'), 'CREATE TABLE lessons')
    assert.equal(summary('TRUNCATE a, b'), 'TRUNCATE a b')
    assert.equal(summary('COPY users FROM STDIN'), 'COPY users')
    assert.equal(summary('CALL refresh_totals($1)'), 'CALL refresh_totals')
    assert.equal(summary('SELECT 1; SELECT 2 FROM x'), 'SELECT SELECT x')
    assert.equal(summary("SELECT 'FROM secrets' AS label -- FROM hidden"), 'SELECT', 'words in strings and comments are not read')
    assert.equal(summary(''), undefined)
    assert.equal(summary('-- nothing'), undefined)
  })

  it('keeps savepoint and other generated names out of the summary', () => {
    assert.equal(summary('SAVEPOINT pgsteward_sp_17'), 'SAVEPOINT')
    assert.equal(summary('ROLLBACK TO SAVEPOINT pgsteward_sp_17'), 'ROLLBACK TO SAVEPOINT')
    assert.equal(summary('RELEASE SAVEPOINT pgsteward_sp_3'), 'RELEASE SAVEPOINT')
    assert.equal(summary('BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY'), 'BEGIN')
    assert.equal(summary("SET search_path = 'app'"), 'SET')
  })

  it('cuts a long summary between parts, at 255 characters', () => {
    const text = Array.from({ length: 60 }, (_, i) => `SELECT * FROM table_number_${i}`).join('; ')
    const long = summary(text) as string
    assert.ok(long.length <= 255 && long.length > 230, String(long.length))
    assert.match(long, /^(SELECT table_number_\d+ )+SELECT( table_number_\d+)?$/, 'never cut inside an operation or a name')
  })

  it('shows parameterised text as written, and hides the literals of facade text without parameters', () => {
    assert.equal(shownText("SELECT * FROM t WHERE a = 1 AND b = 'x'", 'pgsteward'), "SELECT * FROM t WHERE a = 1 AND b = 'x'")
    assert.equal(shownText("SELECT * FROM t WHERE a = $1 AND b = 'x'", 'pg-facade'), "SELECT * FROM t WHERE a = $1 AND b = 'x'")
    assert.equal(
      shownText("SELECT * FROM t WHERE name = 'ann' AND n = 42 AND f = 1.5e3 AND ok = true AND e = E'it\\'s' AND d = $$body$$ AND h = x'1F'", 'pg-facade'),
      'SELECT * FROM t WHERE name = ? AND n = ? AND f = ? AND ok = ? AND e = ? AND d = ? AND h = ?',
    )
    assert.equal(shownText("SELECT 'unterminated", 'pg-facade'), 'SELECT ?')
    assert.equal(shownText('SELECT "quoted id", col2 FROM t2', 'pg-facade'), 'SELECT "quoted id", col2 FROM t2')
  })
})
