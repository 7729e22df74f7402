/**
 * Assets: uploads deduplicated by content. The server computes the md5 while the body streams to
 * a temporary file (413 beyond the limit); one file exists per (md5, type), and one row per
 * uploader and content, so a user's upload is answered the same whatever others uploaded: 201
 * the first time, 200 with the same id when they upload the same bytes again. Reading an asset
 * needs the right to (asset-access.ts); what is sent is never interpreted by the browser as a
 * page: `nosniff`, a sandboxing CSP, and types that can run script sent as attachments.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { getOrCreate } from 'pgsteward'
import type { AppContext } from '../context.ts'
import { TEMPORARY_SUFFIX } from '../files/blob-store.ts'
import { fingerprintOf, idempotencyKey, once, sendStored } from '../http/idempotency.ts'
import { IdParams } from '../http/schemas.ts'
import { HttpError, notFound } from '../http-errors.ts'
import { readableAsset, type AssetRow } from './asset-access.ts'
import { assetFileName, assetLockKey, collectAssetFile } from './asset-files.ts'

/** RFC 6838 media type names (lower-cased), at most 100 characters in all. */
const MEDIA_TYPE = '^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$'
const UploadQuery = Type.Object({ type: Type.String({ maxLength: 100, pattern: MEDIA_TYPE }) }, { additionalProperties: false })

/** Shown inline: types a browser only renders, never runs. Anything else is downloaded. */
const INLINE_TYPES = new Set([
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'image/avif',
  'image/bmp',
  'text/plain',
  'audio/mpeg',
  'audio/ogg',
  'audio/wav',
  'video/mp4',
  'video/webm',
  'application/octet-stream',
])

const present = (row: AssetRow): Record<string, unknown> => ({ id: Number(row.id), md5: row.md5, type: row.content_type, size: row.size })

/**
 * `?type=image/svg+xml` unencoded arrives as "image/svg xml": a query string's `+` is a space.
 * A media type has no spaces, so a space can only have been a `+`. Types are case-insensitive.
 */
function normaliseType(request: FastifyRequest): void {
  const query = request.query as { type?: unknown }
  if (typeof query.type === 'string') query.type = query.type.trim().replaceAll(' ', '+').toLowerCase()
}

/** `application/octet-stream`, with or without parameters. */
function isOctetStream(header: string | undefined): boolean {
  return header?.split(';')[0]?.trim().toLowerCase() === 'application/octet-stream'
}

export function assetRoutes(ctx: AppContext) {
  const { db, assetFiles: store, config } = ctx
  return async (app: FastifyInstance): Promise<void> => {
    // The body is streamed, not buffered: it is hashed and written as it arrives.
    app.addContentTypeParser('application/octet-stream', { bodyLimit: config.maxUploadBytes }, (_request, payload, done) => done(null, payload))
    app.addHook('onRequest', async (request) => {
      request.user = await ctx.auth.user(request)
    })

    app.post(
      '/assets',
      { schema: { querystring: UploadQuery }, bodyLimit: config.maxUploadBytes, preValidation: async (request) => normaliseType(request) },
      async (request, reply) => {
        const { type } = request.query as { type: string }
        if (!isOctetStream(request.headers['content-type'])) {
          throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Upload the bytes with Content-Type: application/octet-stream and the asset type in ?type=.')
        }
        const key = idempotencyKey(request)
        const temporary = path.join(store.dir, `upload-${randomBytes(8).toString('hex')}${TEMPORARY_SUFFIX}`)
        const md5 = createHash('md5')
        let size = 0
        const hashing = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            size += chunk.length
            if (size > config.maxUploadBytes) return callback(new HttpError(413, 'PAYLOAD_TOO_LARGE', `Assets are limited to ${config.maxUploadBytes} bytes.`))
            md5.update(chunk)
            callback(null, chunk)
          },
        })
        // At shutdown, an upload still arriving after the grace period stops here and is answered 503.
        const onShutdown = (): void => {
          hashing.destroy(new HttpError(503, 'SHUTTING_DOWN', 'The service is shutting down: upload again in a moment.'))
        }
        if (ctx.shutdown.signal.aborted) onShutdown()
        ctx.shutdown.signal.addEventListener('abort', onShutdown, { once: true })
        try {
          await pipeline(request.body as Readable, hashing, createWriteStream(temporary))
        } catch (err) {
          await rm(temporary, { force: true })
          throw err
        } finally {
          ctx.shutdown.signal.removeEventListener('abort', onShutdown)
        }
        if (size === 0) {
          await rm(temporary, { force: true })
          throw new HttpError(400, 'EMPTY_UPLOAD', 'The upload is empty.')
        }
        const digest = md5.digest('hex')
        const name = assetFileName(digest, type)
        try {
          const response = await db.transaction((tx) =>
            once(tx, { principal: `user:${request.user.id}`, key, fingerprint: fingerprintOf(request, [digest, size]) }, async () => {
              // Serialise uploads of the same content: whoever creates the row also puts the file in place before commit.
              await tx.advisoryLock(assetLockKey(name))
              const { row, created } = await getOrCreate<AssetRow>(db, {
                table: 'assets',
                key: { created_by: request.user.id, md5: digest, content_type: type },
                values: { size },
                returning: ['id', 'md5', 'content_type', 'size'],
              })
              await store.adopt(name, temporary)
              await ctx.faults.beforeCommit?.()
              return { status: created ? 201 : 200, body: present(row), headers: { location: `/assets/${row.id}` } }
            }),
          )
          return sendStored(reply, response)
        } catch (err) {
          // The file may be in place with no row to name it: remove it, or leave it to the sweep
          // if the database cannot be asked now.
          await collectAssetFile(db, store, digest, type).catch((collectErr: unknown) => {
            request.log.warn({ err: collectErr, file: name }, 'could not check the file of a failed upload; the sweep will')
            ctx.sweeper.later('assets', [name])
          })
          throw err
        } finally {
          await rm(temporary, { force: true })
        }
      },
    )

    app.get('/assets/:id', { schema: { params: IdParams } }, async (request, reply) => {
      const { id } = request.params as { id: string }
      const row = await readableAsset(db, id, request.user.id)
      if (row === null) throw notFound('asset')
      const inline = INLINE_TYPES.has(row.content_type)
      return reply
        .type(row.content_type)
        .header('content-md5', Buffer.from(row.md5, 'hex').toString('base64'))
        .header('content-security-policy', "default-src 'none'; sandbox")
        .header('content-disposition', `${inline ? 'inline' : 'attachment'}; filename="asset-${row.id}"`)
        .header('cross-origin-resource-policy', 'same-origin')
        .send(await store.read(assetFileName(row.md5, row.content_type)))
    })
  }
}
