/**
 * Request validation with two rule sets. Query strings and path parameters are text by nature,
 * so `?limit=20` is coerced to a number. JSON bodies are typed by the client: a string where a
 * number belongs (`"assetId": "1"`), or one value where a list belongs (`"groups": "teachers"`),
 * is a mistake to report (400), not to guess at.
 */
import { Ajv, type Options } from 'ajv'
import type { FastifySchemaCompiler } from 'fastify'

const shared: Options = { useDefaults: true, removeAdditional: false, allErrors: false, strict: false }
const forText = new Ajv({ ...shared, coerceTypes: 'array' })
const forJson = new Ajv({ ...shared, coerceTypes: false })

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => (httpPart === 'body' ? forJson : forText).compile(schema as object)
