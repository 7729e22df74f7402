/**
 * The pool's `query` event: one per statement, with its SQL, duration, rows and mapped error.
 * Measuring costs a little on every statement, so it is switched on only while the event has
 * listeners, and off again when the last one goes.
 */
import type { EventEmitter } from 'node:events'
import { mapError, sqlStateOf } from '../errors/map-error.js'
import type { Instrumentation } from './instrumentation.js'
import type { DatabaseEvents } from './pool-events.js'

export function emitQueryEventsWhileListened(pool: EventEmitter<DatabaseEvents>, instrumentation: Instrumentation): void {
  let stop: (() => void) | undefined
  // EventEmitter's own events, outside the typed map of pool events.
  const emitter = pool as EventEmitter
  emitter.on('newListener', (event: string | symbol) => {
    if (event !== 'query' || stop !== undefined) return
    stop = instrumentation.add({
      statement: (start, startedAt) => (end, endedAt) => {
        const mapped = end.error === undefined ? undefined : mapError(end.error, start.text)
        pool.emit('query', {
          sql: start.text,
          durationMs: endedAt - startedAt,
          rowCount: end.rowCount,
          command: end.command,
          error:
            mapped === undefined
              ? undefined
              : {
                  name: mapped instanceof Error ? mapped.name : 'Error',
                  code: (mapped as { code?: unknown }).code === undefined ? 'UNKNOWN' : String((mapped as { code?: unknown }).code),
                  sqlState: sqlStateOf(mapped),
                },
          scope: start.scope,
          via: start.via,
          connectionId: end.connectionId,
        })
      },
    })
  })
  emitter.on('removeListener', (event: string | symbol) => {
    if (event !== 'query' || pool.listenerCount('query') > 0) return
    stop?.()
    stop = undefined
  })
}
