/**
 * HTTP errors with a stable code, and the one place that turns any error into a response:
 * our own errors keep their status; pgsteward's typed errors map to what they mean for a client
 * (stale version 409, pool exhausted 503, ...); anything else is a 500 that hides its details.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AbortedError, NoRowsError, PoolClosedError, PoolTimeoutError, StaleVersionError, UniqueViolationError } from 'pgsteward'

export class HttpError extends Error {
  readonly statusCode: number
  readonly code: string
  readonly details: Record<string, unknown> | undefined
  constructor(statusCode: number, code: string, message: string, details?: Record<string, unknown>) {
    super(message)
    this.statusCode = statusCode
    this.code = code
    this.details = details
  }
}

export const notFound = (what = 'resource'): HttpError => new HttpError(404, 'NOT_FOUND', `No such ${what}.`)
export const badRequest = (message: string): HttpError => new HttpError(400, 'BAD_REQUEST', message)
export const unauthorized = (message = 'Authentication required.'): HttpError => new HttpError(401, 'UNAUTHORIZED', message)
export const forbidden = (message: string): HttpError => new HttpError(403, 'FORBIDDEN', message)
export const conflict = (message: string, details?: Record<string, unknown>): HttpError => new HttpError(409, 'CONFLICT', message, details)

interface ErrorBody {
  error: string
  message: string
  [key: string]: unknown
}

export function toErrorResponse(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof HttpError) return { status: err.statusCode, body: { error: err.code, message: err.message, ...err.details } }
  if (err instanceof StaleVersionError) {
    return { status: 409, body: { error: 'STALE_VERSION', message: err.message, currentVersion: err.currentVersion } }
  }
  // A row that vanished between reading and writing (a concurrent delete).
  if (err instanceof NoRowsError) return { status: 404, body: { error: 'NOT_FOUND', message: 'It no longer exists.' } }
  if (err instanceof UniqueViolationError) return { status: 409, body: { error: 'CONFLICT', message: 'That already exists.' } }
  if (err instanceof PoolTimeoutError || err instanceof PoolClosedError || err instanceof AbortedError) {
    return { status: 503, body: { error: 'UNAVAILABLE', message: 'The service is overloaded or shutting down; retry shortly.' } }
  }
  const fe = err as Partial<FastifyError>
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || fe.statusCode === 413) {
    return { status: 413, body: { error: 'PAYLOAD_TOO_LARGE', message: 'The request body is larger than allowed.' } }
  }
  if (fe.validation !== undefined) {
    const first = fe.validation[0]
    const field = first?.instancePath ? first.instancePath.replace(/^\//, '').replaceAll('/', '.') : (first?.params as { missingProperty?: string } | undefined)?.missingProperty
    const where = fe.validationContext ?? 'body'
    return { status: 400, body: { error: 'INVALID_REQUEST', message: `${where}${field ? `.${field}` : ''} ${first?.message ?? 'is invalid'}`, field: field ?? null } }
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: { error: fe.code ?? 'BAD_REQUEST', message: fe.message ?? 'Bad request.' } }
  }
  return { status: 500, body: { error: 'INTERNAL', message: 'Something went wrong on our side.' } }
}

export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const { status, body } = toErrorResponse(err)
  if (status >= 500) request.log.error({ err }, 'request failed')
  void reply.status(status).send(body)
}
