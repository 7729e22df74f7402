/**
 * The classroom service as a Fastify instance, built from its dependencies so tests can run it
 * in-process on a port of their own. The caller owns the database and closes it after the app.
 */
import path from 'node:path'
import fastifyJwt from '@fastify/jwt'
import fastifyWebsocket from '@fastify/websocket'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Database } from 'pgsteward'
import { Authenticator } from './auth/authenticate.ts'
import { IdTokenVerifier } from './auth/id-token.ts'
import { authRoutes } from './auth/routes.ts'
import { assetRoutes } from './assets/routes.ts'
import { backpackRoutes } from './backpack/routes.ts'
import type { Config } from './config.ts'
import type { AppContext } from './context.ts'
import type { NotificationSource } from './events/live-feed.ts'
import { eventRoutes } from './events/routes.ts'
import { BlobStore, type BlobFaults } from './files/blob-store.ts'
import { removeCrashLeftovers } from './files/crash-leftovers.ts'
import { FileSweeper } from './files/file-sweeper.ts'
import { ShutdownGate } from './http/shutdown-gate.ts'
import { validatorCompiler } from './http/validators.ts'
import { errorHandler } from './http-errors.ts'
import { dashboardRoutes } from './ops/dashboard.ts'
import { DatabaseProbe } from './ops/database-probe.ts'
import { opsRoutes } from './ops/routes.ts'
import { projectRoutes } from './projects/routes.ts'

export interface AppOptions {
  config: Config
  db: Database
  /**
   * The database's URL, for the health check's own connection (outside the pool): without it a
   * pool too busy to lend the check a connection reads as the database being down.
   */
  databaseUrl?: string
  /** Where live-event notifications of every instance are heard. (Default: `db.listen`) */
  notifications?: NotificationSource
  /** How often the background sweep runs (Default: 60 s). */
  sweepIntervalMs?: number
  /** Failure injection for tests and the race lab. */
  faults?: { files?: BlobFaults; beforeCommit?: () => void | Promise<void> }
}

/** JSON bodies carry project files inline, so they may be as large as an upload. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { config, db } = options
  const app = Fastify({
    logger:
      config.logLevel === 'silent'
        ? false
        : {
            level: config.logLevel,
            redact: ['req.headers.authorization'],
            // WebSocket clients send their token in the query string; it must not reach the logs.
            serializers: { req: (req) => ({ method: req.method, url: req.url.replace(/([?&]token=)[^&]*/g, '$1[redacted]'), remoteAddress: req.ip }) },
          },
    bodyLimit: config.maxUploadBytes,
    // Keep-alive sockets must not hold a graceful shutdown open.
    forceCloseConnections: 'idle',
  })
  app.setValidatorCompiler(validatorCompiler)
  await app.register(fastifyJwt, { secret: config.jwtSecret, verify: { algorithms: ['HS256'] } })
  const stores = {
    config,
    db,
    projectFiles: new BlobStore(path.join(config.dataDir, 'files', 'projects'), options.faults?.files),
    assetFiles: new BlobStore(path.join(config.dataDir, 'files', 'assets'), options.faults?.files),
  }
  const context: AppContext = {
    ...stores,
    auth: new Authenticator(app, db, config.serviceSecret),
    sweeper: new FileSweeper(stores, app.log, options.sweepIntervalMs ?? 60_000),
    shutdown: new ShutdownGate(),
    faults: { beforeCommit: options.faults?.beforeCommit },
  }
  const idTokens = config.oidc === undefined ? undefined : await IdTokenVerifier.create(config.oidc)
  await context.projectFiles.init()
  await context.assetFiles.init()
  const leftovers = await removeCrashLeftovers(context)
  if (leftovers.temporaryFiles + leftovers.orphanFiles > 0) app.log.warn(leftovers, 'removed files an earlier crash left behind')
  app.setErrorHandler(errorHandler)
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error: 'NOT_FOUND', message: `No route ${request.method} ${request.url.split('?')[0] ?? ''}.` })
  })
  app.addHook('onSend', async (request, reply) => {
    // Nothing we send is to be reinterpreted by a browser as another type (stored HTML as a page).
    void reply.header('x-content-type-options', 'nosniff')
    // Answered before its body was read (401, 413, 503): what remains of the body would be read
    // as the next request on this connection, or hold it open. The connection ends with the answer.
    if (!request.raw.complete) void reply.header('connection', 'close')
  })
  app.addHook('preClose', async () => {
    context.shutdown.begin(app, config.shutdownGraceMs)
  })
  app.addHook('onClose', async () => {
    context.shutdown.end()
    await context.sweeper.stop()
  })
  await app.register(fastifyWebsocket, {
    options: { maxPayload: 64 * 1024 },
    // The plugin's default closes every socket without a code (clients see 1005) and then waits
    // for each one, stalled clients included. The live-events hub closes its sockets with 1001
    // and cuts the ones that do not finish closing, in its own preClose hook.
    preClose(done) {
      done()
    },
  })
  await app.register(opsRoutes(context, new DatabaseProbe(options.databaseUrl)))
  await app.register(dashboardRoutes(context))
  await app.register(authRoutes(context, idTokens))
  await app.register(projectRoutes(context))
  await app.register(assetRoutes(context))
  await app.register(backpackRoutes(context))
  await app.register(eventRoutes(context, options.notifications ?? db))
  app.decorate('context', context)
  context.sweeper.start()
  return app
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The service's dependencies, for tests and tools that drive the app in-process. */
    context: AppContext
  }
}
