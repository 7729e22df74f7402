/**
 * The sql`...` tag. Interpolated values always travel as bind parameters; identifiers only
 * through `sql.identifier`; fragments compose; raw text only through the visibly unsafe
 * `sql.unsafe`. There is no other way to build a statement, so injection needs a grep-able word.
 */
import { MisuseError } from './errors/error-classes.js'

/** A composable piece of SQL with its parameters. Build it with the `sql` tag. */
export class SqlFragment {
  readonly strings: readonly string[]
  readonly values: readonly unknown[]
  constructor(strings: readonly string[], values: readonly unknown[]) {
    this.strings = strings
    this.values = values
  }

  /** Text with `$1..$n` placeholders and the values in order. */
  compile(): CompiledQuery {
    return compile(this)
  }
}

/** A quoted identifier (schema-qualified when given several names). */
export class SqlIdentifier {
  readonly text: string
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

/** SQL text inserted verbatim. Only from `sql.unsafe`. */
export class UnsafeSql {
  readonly text: string
  constructor(text: string) {
    this.text = text
  }
}

/** What the query methods take: a fragment built with the sql tag, or `sql.unsafe` text. */
export type Statement = SqlFragment | UnsafeSql

export interface CompiledQuery {
  text: string
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

interface SqlTag {
  (strings: TemplateStringsArray, ...values: unknown[]): SqlFragment
  /**
   * A quoted identifier: `sql.identifier('public', 'users')` is `"public"."users"`.
   * @example db.query(sql`select * from ${sql.identifier(table)} where id = ${id}`)
   */
  identifier(...names: string[]): SqlIdentifier
  /**
   * Join fragments or values with a separator (default `, `); values become parameters.
   * @example sql`insert into t (a, b) values (${sql.join([a, b])})`
   */
  join(items: readonly unknown[], separator?: SqlFragment): SqlFragment
  /**
   * Raw SQL inserted as is, with no escaping. Only for text your program wrote, never for input.
   * @example sql`select 1 ${sql.unsafe('for update')}`
   */
  unsafe(text: string): UnsafeSql
  /** An empty fragment, for optional clauses. */
  readonly empty: SqlFragment
}

/**
 * Build a statement: values become `$n` parameters; fragments, identifiers and `sql.unsafe`
 * text are spliced in.
 * @example
 * await db.query(sql`select * from users where id = ${id} and ${cond}`)
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
