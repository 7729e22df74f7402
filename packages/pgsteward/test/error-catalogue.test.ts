/** The error catalogue: every public error class has a stable, distinct code and a message that says what to do. */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import * as api from 'pgsteward'

const state = { total: 1, idle: 0, inUse: 1, waiting: 1, connecting: 0, max: 1 }
const fields = { sqlState: 'XXXXX' }
const samples: [string, api.PgStewardError][] = [
  ['CONFIG_INVALID', new api.ConfigError(['pool.max must be at least 1.'])],
  ['MISUSE', new api.MisuseError('Use sql`...`.')],
  ['PARAMETER_INVALID', new api.ParameterError(2, 'it is a Symbol')],
  ['TOO_MANY_PARAMETERS', new api.TooManyParametersError(70_000)],
  ['NOTIFICATION_PAYLOAD_TOO_LARGE', new api.NotificationPayloadError(9_000)],
  ['WRITE_TOKEN_INVALID', new api.WriteTokenError('The after option of db.read', 'garbage')],
  ['POOL_TIMEOUT', new api.PoolTimeoutError(10, state, [])],
  ['POOL_CLOSED', new api.PoolClosedError()],
  ['POOL_DEADLOCK', new api.PoolDeadlockError(state, { connectionId: 1, heldMs: 5 })],
  ['CONNECTION_FAILED', new api.ConnectionError('Could not connect.', new Error('x'), '28P01')],
  ['CONNECTION_RELEASED', new api.ReleasedConnectionError('Released.')],
  ['SESSION_CLOSED', new api.SessionClosedError('session', undefined)],
  ['SESSION_CONCURRENT_USE', new api.ConcurrentUseError('transaction', undefined, undefined)],
  ['ABORTED', new api.AbortedError('gone')],
  ['SCOPE_TIMEOUT', new api.ScopeTimeoutError(100)],
  ['COMMIT_AMBIGUOUS', new api.AmbiguousCommitError(new Error('lost'))],
  ['TRANSACTION_FAILED', new api.FailedTransactionError('transaction')],
  ['STALE_VERSION', new api.StaleVersionError('t', 1, 2)],
  ['NO_ROWS', new api.NoRowsError('none')],
  ['TOO_MANY_ROWS', new api.TooManyRowsError(2)],
  ['UNIQUE_VIOLATION', new api.UniqueViolationError('server message', fields)],
  ['FOREIGN_KEY_VIOLATION', new api.ForeignKeyViolationError('server message', fields)],
  ['NOT_NULL_VIOLATION', new api.NotNullViolationError('server message', fields)],
  ['CHECK_VIOLATION', new api.CheckViolationError('server message', fields)],
  ['EXCLUSION_VIOLATION', new api.ExclusionViolationError('server message', fields)],
  ['SERIALIZATION_FAILURE', new api.SerializationFailureError('server message', fields)],
  ['DEADLOCK_DETECTED', new api.DeadlockDetectedError('server message', fields)],
  ['LOCK_NOT_AVAILABLE', new api.LockNotAvailableError('server message', fields)],
  ['QUERY_CANCELED', new api.QueryCanceledError('server message', fields)],
  ['READ_ONLY_TRANSACTION', new api.ReadOnlyTransactionError('server message', fields)],
  ['ADMIN_SHUTDOWN', new api.AdminShutdownError('server message', fields)],
  ['CONNECTION_LOST', new api.ConnectionLostError('server message', fields)],
]

describe('error catalogue', () => {
  it('covers every exported error class', () => {
    const exported = Object.entries(api).filter(([, v]) => typeof v === 'function' && v.prototype instanceof api.PgStewardError)
    const sampled = new Set(samples.map(([, e]) => e.constructor))
    const abstract = new Set<unknown>([api.DatabaseError, api.IntegrityConstraintError])
    assert.deepEqual(
      exported.filter(([, v]) => !sampled.has(v as never) && !abstract.has(v)).map(([k]) => k),
      [],
    )
  })

  for (const [code, error] of samples) {
    it(`${error.name} has code ${code}, its own name and a sentence of a message`, () => {
      assert.equal(error.code, code)
      assert.equal(error.name, error.constructor.name)
      assert.ok(error instanceof api.PgStewardError)
      assert.ok(error instanceof Error)
      assert.ok(error.message.length > 3)
    })
  }

  it('codes are distinct', () => {
    const codes = samples.map(([c]) => c)
    assert.equal(new Set(codes).size, codes.length)
  })
})

describe('every error code is documented where users read about it', () => {
  it("each class's doc comment in the published declarations names its code", async () => {
    const declarations = await readFile(new URL('../dist/errors/error-classes.d.ts', import.meta.url), 'utf8')
    for (const [code, error] of samples) {
      const at = declarations.indexOf(`export declare class ${error.name} `)
      assert.ok(at > 0, `${error.name} is declared`)
      const comment = declarations.slice(declarations.lastIndexOf('/**', at), at)
      assert.ok(comment.includes(`Code \`${code}\``), `${error.name}'s doc comment names its code ${code}`)
    }
  })
})
