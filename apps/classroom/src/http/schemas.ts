/**
 * Building blocks of request schemas. PostgreSQL text cannot hold a NUL character and a bigint
 * stops at 2^63: a value beyond what its column holds is the client's error (400), found by
 * validation, never by the database (500).
 */
import { Type, type StringOptions } from '@sinclair/typebox'

/** Any text PostgreSQL can store: everything but NUL. */
export const NO_NUL = '^[^\\u0000]*$'
/** Names shown to people (user and group names from an identity provider): no control characters. */
export const PRINTABLE = '^[^\\u0000-\\u001f\\u007f]+$'

/** A string a text column will hold. */
export const Text = (options: StringOptions = {}) => Type.String({ pattern: NO_NUL, ...options })

/** A row id in a JSON body: a positive integer a bigint holds and JavaScript represents exactly. */
export const RowId = () => Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })

/** A row id in a path: digits only, at most 15 (below 2^53, so it is also exact as a number). */
export const IdParams = Type.Object({ id: Type.String({ pattern: '^[1-9][0-9]{0,14}$' }) })
