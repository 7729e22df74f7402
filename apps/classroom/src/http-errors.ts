/**
 * HTTP errors with a stable code, and the one place that turns any error into a response:
 * our own errors keep their status; pgsteward's typed errors map to what they mean for a client
 * (stale version 409; the database busy, unreachable or restarting 503 with Retry-After, since
 * the request may simply be repeated: PUT is guarded by If-Match, creating POSTs by
 * Idempotency-Key); anything else is a 500 that hides its details.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import {
  AbortedError,
  AdminShutdownError,
  AmbiguousCommitError,
  ConnectionError,
  ConnectionLostError,
  DatabaseError,
  DeadlockDetectedError,
  ForeignKeyViolationError,
  LockNotAvailableError,
  NoRowsError,
  PoolClosedError,
  PoolTimeoutError,
  QueryCanceledError,
  SerializationFailureError,
  StaleVersionError,
  UniqueViolationError,
} from 'pgsteward'

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
export const badRequest = (message: string, details?: Record<string, unknown>): HttpError => new HttpError(400, 'BAD_REQUEST', message, details)
export const invalidField = (field: string, message: string): HttpError => new HttpError(400, 'INVALID_REQUEST', `body.${field} ${message}`, { field })
export const unauthorized = (message = 'Authentication required.'): HttpError => new HttpError(401, 'UNAUTHORIZED', message)
export const forbidden = (message: string): HttpError => new HttpError(403, 'FORBIDDEN', message)
export const conflict = (message: string, details?: Record<string, unknown>): HttpError => new HttpError(409, 'CONFLICT', message, details)

interface ErrorBody {
  error: string
  message: string
  [key: string]: unknown
}

export interface ErrorResponse {
  status: number
  body: ErrorBody
  /** Seconds the client should wait before repeating the request (503). */
  retryAfter?: number
}

/** The database could not do the work now, but may in a moment: the request can be repeated. */
function isTransientDatabaseFault(err: unknown): boolean {
  return (
    err instanceof PoolTimeoutError ||
    err instanceof PoolClosedError ||
    err instanceof AbortedError ||
    err instanceof ConnectionError ||
    err instanceof ConnectionLostError ||
    err instanceof AdminShutdownError ||
    err instanceof QueryCanceledError ||
    err instanceof SerializationFailureError ||
    err instanceof DeadlockDetectedError ||
    err instanceof LockNotAvailableError
  )
}

export function toErrorResponse(err: unknown): ErrorResponse {
  if (err instanceof HttpError) {
    return { status: err.statusCode, body: { error: err.code, message: err.message, ...err.details }, ...(err.statusCode === 503 ? { retryAfter: 1 } : {}) }
  }
  if (err instanceof StaleVersionError) {
    return { status: 409, body: { error: 'STALE_VERSION', message: err.message, currentVersion: err.currentVersion } }
  }
  // A row that vanished between reading and writing (a concurrent delete).
  if (err instanceof NoRowsError) return { status: 404, body: { error: 'NOT_FOUND', message: 'It no longer exists.' } }
  if (err instanceof UniqueViolationError) return { status: 409, body: { error: 'CONFLICT', message: 'That already exists.' } }
  if (err instanceof ForeignKeyViolationError) return { status: 409, body: { error: 'CONFLICT', message: 'It refers to something that no longer exists.' } }
  if (err instanceof AmbiguousCommitError) {
    return {
      status: 503,
      retryAfter: 1,
      body: {
        error: 'OUTCOME_UNKNOWN',
        message:
          'The database connection was lost while the change was being committed: it may or may not have been applied. Repeat it (with the same If-Match or Idempotency-Key) or read it back.',
      },
    }
  }
  if (isTransientDatabaseFault(err)) {
    return {
      status: 503,
      retryAfter: 1,
      body: { error: 'UNAVAILABLE', message: 'The database is busy, restarting or unreachable; nothing was changed. Retry shortly.' },
    }
  }
  // SQLSTATE class 22 (data exception): a value its column cannot hold. Validation should have
  // caught it; if it did not, it is still the request's value, not our failure.
  if (err instanceof DatabaseError && err.sqlState.startsWith('22')) {
    return { status: 400, body: { error: 'INVALID_VALUE', message: 'A value in the request cannot be stored (out of range or not valid text).' } }
  }
  const fe = err as Partial<FastifyError>
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || fe.statusCode === 413) {
    return { status: 413, body: { error: 'PAYLOAD_TOO_LARGE', message: 'The request body is larger than allowed.' } }
  }
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || fe.statusCode === 415) {
    return {
      status: 415,
      body: { error: 'UNSUPPORTED_MEDIA_TYPE', message: 'Send JSON (Content-Type: application/json), or for uploads application/octet-stream.' },
    }
  }
  if (fe.validation !== undefined) {
    const first = fe.validation[0]
    const field = first?.instancePath
      ? first.instancePath.replace(/^\//, '').replaceAll('/', '.')
      : (first?.params as { missingProperty?: string } | undefined)?.missingProperty
    const where = fe.validationContext ?? 'body'
    return {
      status: 400,
      body: { error: 'INVALID_REQUEST', message: `${where}${field ? `.${field}` : ''} ${first?.message ?? 'is invalid'}`, field: field ?? null },
    }
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: { error: fe.code ?? 'BAD_REQUEST', message: fe.message ?? 'Bad request.' } }
  }
  return { status: 500, body: { error: 'INTERNAL', message: 'Something went wrong on our side.' } }
}

export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const { status, body, retryAfter } = toErrorResponse(err)
  if (status >= 500) request.log.error({ err }, 'request failed')
  if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter))
  void reply.status(status).send(body)
}
