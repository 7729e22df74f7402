/**
 * LISTEN/NOTIFY with the database as the source of truth: the notification says "something
 * changed", the listener reads what it has not seen yet, and after a lost connection (here a
 * pg_terminate_backend of the listening backend) onGap makes it read again, so nothing is missed.
 */
import { createDatabase, sql } from 'pgsteward'
import { withDatabase } from './with-database.ts'

await withDatabase(async (url) => {
  const db = createDatabase({ connectionString: url })
  await db.query(sql`CREATE TABLE IF NOT EXISTS chat (id bigserial PRIMARY KEY, body text NOT NULL)`)

  let lastSeen = 0
  const received: string[] = []
  let reading = Promise.resolve()
  // One read at a time, each from where the last one stopped: every row exactly once, in order.
  const catchUp = (): Promise<void> =>
    (reading = reading.then(async () => {
      const rows = await db.query<{ id: string; body: string }>(sql`SELECT id, body FROM chat WHERE id > ${lastSeen} ORDER BY id`)
      for (const row of rows.rows) {
        lastSeen = Number(row.id)
        received.push(row.body)
      }
    }))

  let listenerPid = 0
  db.on('listenerConnect', ({ processId }) => (listenerPid = processId))
  db.on('listenerGap', ({ downMs }) => console.log(`listener was away for ${Math.round(downMs)} ms: catching up`))
  const unlisten = await db.listen('chat', () => void catchUp(), { onGap: () => void catchUp() })

  const send = (body: string): Promise<void> =>
    db.transaction(async (tx) => {
      const { id } = await tx.one<{ id: string }>(sql`INSERT INTO chat (body) VALUES (${body}) RETURNING id`)
      await tx.notify('chat', id) // delivered at commit; an id, not the data
    })

  await send('hello')
  await send('world')
  // The listening backend is killed; a message sent meanwhile may have no listener to hear it.
  await db.query(sql`SELECT pg_terminate_backend(${listenerPid}::int)`)
  await send('sent while the listener was away')

  while (received.length < 3) await new Promise((resolve) => setTimeout(resolve, 20))
  console.log(`received ${received.length} messages: ${received.join(' | ')}`)
  await unlisten()
  await db.close()
})
