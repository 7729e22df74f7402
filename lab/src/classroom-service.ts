/**
 * The classroom service, in-process on a loopback port, for scenarios whose incident is about a
 * service: the pgsteward variant goes through its HTTP API like any client would.
 */
import { randomBytes } from 'node:crypto'
import { buildApp, type AppOptions } from 'classroom/app'
import { loadConfig } from 'classroom/config'
import { migrateUp } from 'classroom/migrate'
import type { FastifyInstance } from 'fastify'
import type { ScenarioContext } from './scenario.ts'
import { stewardDatabase } from './steward.ts'

export interface RunningService {
  url: string
  app: FastifyInstance
  /** An access token for the user, logged in with these groups (a teacher needs the configured teachers group). */
  login(username: string, groups?: string[]): Promise<string>
  /** The group whose members may create live events. */
  teacherGroup: string
}

export async function startClassroom(ctx: ScenarioContext, faults?: AppOptions['faults']): Promise<RunningService> {
  const config = loadConfig({
    NODE_ENV: 'test',
    DATA_DIR: ctx.dir,
    LOG_LEVEL: 'silent',
    JWT_SECRET: randomBytes(32).toString('hex'),
    SERVICE_SECRET: randomBytes(32).toString('hex'),
    // The hub scenario floods one socket on purpose; the per-socket rate limit would refuse it.
    LIVE_MESSAGES_PER_SECOND: '1000000',
    LIVE_MESSAGE_BURST: '1000000',
  })
  const db = stewardDatabase(ctx)
  await migrateUp(db)
  const app = await buildApp({ config, db, faults })
  await app.listen({ port: 0, host: '127.0.0.1' })
  ctx.onCleanup(() => app.close())
  const address = app.server.address()
  if (typeof address !== 'object' || address === null) throw new Error('classroom did not bind')
  const url = `http://127.0.0.1:${address.port}`
  return {
    url,
    app,
    teacherGroup: config.teacherGroup,
    async login(username, groups = []) {
      const res = await fetch(`${url}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, groups }),
      })
      const body = (await res.json()) as { accessToken: string }
      return body.accessToken
    },
  }
}
