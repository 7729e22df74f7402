/**
 * The sql`...` tag. Interpolated values always travel as bind parameters; identifiers only
 * through `sql.identifier`; fragments compose; raw text only through the visibly unsafe
 * `sql.unsafe`. There is no other way to build a statement, so injection needs a grep-able word.
 */
import { MisuseError } from './errors/error-classes.js'

/**
 * A composable piece of SQL with its parameters. Build it with the {@link sql} tag; a fragment
 * interpolated into another is spliced in, its values renumbered as parameters of the whole.
 * @example
 * ```ts
 * const active: SqlFragment = sql`deleted_at is null`
 * await db.many(sql`select * from users where ${active} and team = ${team}`)
 * ```
 */
export class SqlFragment {
  /** The literal text between the interpolations, as the template gave it. */
  readonly strings: readonly string[]
  /** The interpolated values: parameters, or nested fragments, identifiers and unsafe text. */
  readonly values: readonly unknown[]
  /** Prefer the `sql` tag, which builds these from a template. */
  constructor(strings: readonly string[], values: readonly unknown[]) {
    this.strings = strings
    this.values = values
  }

  /**
   * Text with `$1..$n` placeholders and the values in order, as the server receives them.
   * @example
   * ```ts
   * sql`select * from t where a = ${1} and b = ${'x'}`.compile()
   * // { text: 'select * from t where a = $1 and b = $2', values: [1, 'x'] }
   * ```
   */
  compile(): CompiledQuery {
    return compile(this)
  }
}

/**
 * A quoted identifier (schema-qualified when given several names). Build it with `sql.identifier`.
 * @example
 * ```ts
 * const table: SqlIdentifier = sql.identifier('audit', 'events')
 * await db.query(sql`select count(*) from ${table}`) // select count(*) from "audit"."events"
 * ```
 */
export class SqlIdentifier {
  /** The quoted text, as spliced into the statement: `"audit"."events"`. */
  readonly text: string
  /** Prefer `sql.identifier`, which checks its arguments the same way. */
  constructor(names: readonly string[]) {
    if (names.length === 0) throw new MisuseError('sql.identifier needs at least one name.')
    this.text = names
      .map((name) => {
        if (typeof name !== 'string' || name.length === 0) throw new MisuseError('sql.identifier names must be non-empty strings.')
        if (name.includes('\0')) throw new MisuseError('sql.identifier names cannot contain NUL characters.')
        return `"${name.replaceAll('"', '""')}"`
      })
      .join('.')
  }
}

/**
 * SQL text inserted verbatim. Only from `sql.unsafe`, whose name makes every use easy to find.
 * @example
 * ```ts
 * const lock: UnsafeSql = sql.unsafe(skipLocked ? 'for update skip locked' : 'for update')
 * await tx.many(sql`select id from jobs where state = 'ready' limit 10 ${lock}`)
 * ```
 */
export class UnsafeSql {
  /** The SQL text, exactly as given. */
  readonly text: string
  /** Prefer `sql.unsafe`, whose name makes every use of raw SQL easy to find. */
  constructor(text: string) {
    this.text = text
  }
}

/** What the query methods take: a fragment built with the sql tag, or `sql.unsafe` text. */
export type Statement = SqlFragment | UnsafeSql

/** A statement as the server receives it: text with `$n` placeholders, and the values. */
export interface CompiledQuery {
  /** The SQL text with `$1..$n` placeholders. */
  text: string
  /** The parameter values, `values[0]` for `$1`. */
  values: unknown[]
}

/** Compiled text of fragments without nested pieces depends only on the call site's strings. */
const textCache = new WeakMap<readonly string[], string>()

function isPiece(value: unknown): value is SqlFragment | SqlIdentifier | UnsafeSql {
  return value instanceof SqlFragment || value instanceof SqlIdentifier || value instanceof UnsafeSql
}

function compile(fragment: SqlFragment): CompiledQuery {
  const { strings, values } = fragment
  if (!values.some(isPiece)) {
    for (let i = 0; i < values.length; i++) {
      if (values[i] === undefined) throw undefinedValue(i + 1, strings)
    }
    let text = textCache.get(strings)
    if (text === undefined) {
      text = strings.reduce((acc, part, i) => (i === 0 ? part : `${acc}$${i}${part}`), '')
      textCache.set(strings, text)
    }
    return { text, values: values.slice() }
  }
  const out: CompiledQuery = { text: '', values: [] }
  append(fragment, out)
  return out
}

function append(fragment: SqlFragment, out: CompiledQuery): void {
  const { strings, values } = fragment
  out.text += strings[0] ?? ''
  for (let i = 0; i < values.length; i++) {
    const value = values[i]
    if (value instanceof SqlFragment) append(value, out)
    else if (value instanceof SqlIdentifier || value instanceof UnsafeSql) out.text += value.text
    else if (value === undefined) throw undefinedValue(out.values.length + 1, strings)
    else {
      out.values.push(value)
      out.text += `$${out.values.length}`
    }
    out.text += strings[i + 1] ?? ''
  }
}

function undefinedValue(position: number, strings: readonly string[]): MisuseError {
  const near = strings.join('?').slice(0, 80)
  return new MisuseError(`Parameter $${position} is undefined in sql\`${near}\`: pass null to mean SQL NULL, or fix the missing value.`)
}

/** The type of {@link sql}: a template tag with helpers for identifiers, lists and raw text. */
export interface SqlTag {
  /** Build a fragment: each interpolated value becomes a `$n` parameter. */
  (strings: TemplateStringsArray, ...values: unknown[]): SqlFragment
  /**
   * A quoted identifier: `sql.identifier('public', 'users')` is `"public"."users"`.
   * @example
   * ```ts
   * await db.query(sql`select * from ${sql.identifier(table)} where id = ${id}`)
   * ```
   */
  identifier(...names: string[]): SqlIdentifier
  /**
   * Join fragments or values with a separator; values become parameters.
   * @param separator Spliced between the items. (Default: sql`, `)
   * @example
   * ```ts
   * await db.query(sql`insert into t (a, b) values (${sql.join([a, b])})`)
   * await db.query(sql`select * from t where ${sql.join(conditions, sql` and `)}`)
   * ```
   */
  join(items: readonly unknown[], separator?: SqlFragment): SqlFragment
  /**
   * Raw SQL inserted as is, with no escaping. Only for text your program wrote, never for input.
   * @example
   * ```ts
   * await tx.query(sql`select * from jobs ${sql.unsafe('for update skip locked')}`)
   * ```
   */
  unsafe(text: string): UnsafeSql
  /**
   * An empty fragment, for optional clauses.
   * @example
   * ```ts
   * const filter = team === undefined ? sql.empty : sql`where team = ${team}`
   * await db.many(sql`select * from users ${filter}`)
   * ```
   */
  readonly empty: SqlFragment
}

/**
 * Build a statement: values become `$n` parameters; fragments, identifiers and `sql.unsafe`
 * text are spliced in. The query methods take nothing else, so no value can reach the SQL text
 * by accident. `undefined` is refused (pass `null` for SQL NULL).
 * @example
 * ```ts
 * import { sql } from 'pgsteward'
 *
 * const recent = sql`created_at > now() - interval '1 day'`
 * const rows = await db.many(sql`select * from users where team = ${team} and ${recent}`)
 * ```
 */
export const sql: SqlTag = Object.assign((strings: TemplateStringsArray, ...values: unknown[]) => new SqlFragment(strings, values), {
  identifier: (...names: string[]) => new SqlIdentifier(names),
  join(items: readonly unknown[], separator: SqlFragment = new SqlFragment([', '], [])): SqlFragment {
    if (items.length === 0) return new SqlFragment([''], [])
    const strings: string[] = ['']
    const values: unknown[] = []
    items.forEach((item, i) => {
      if (i > 0) {
        values.push(separator)
        strings.push('')
      }
      values.push(item)
      strings.push('')
    })
    return new SqlFragment(strings, values)
  },
  unsafe: (text: string) => {
    if (typeof text !== 'string') throw new MisuseError('sql.unsafe expects a string.')
    return new UnsafeSql(text)
  },
  empty: new SqlFragment([''], []),
})

/** Accepts only what the tag builds; a plain string is a misuse that names the fix. */
export function toQuery(statement: unknown): CompiledQuery {
  if (statement instanceof SqlFragment) return statement.compile()
  if (statement instanceof UnsafeSql) return { text: statement.text, values: [] }
  if (typeof statement === 'string') {
    throw new MisuseError(
      'Queries are built with the sql`...` tag so values travel as parameters: write db.query(sql`select ... where id = ${id}`). ' +
        'For SQL text your program wrote itself, wrap it: db.query(sql.unsafe(text)).',
    )
  }
  throw new MisuseError(`Expected a query built with sql\`...\`, got ${statement === null ? 'null' : typeof statement}.`)
}
