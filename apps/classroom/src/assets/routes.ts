/**
 * Assets: uploads deduplicated by content. The server computes the md5 while the body streams to
 * a temporary file (413 beyond the limit); one row and one file exist per (md5, type), and every
 * concurrent uploader of the same bytes gets the same id.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { getOrCreate, sql } from 'pgsteward'
import { authenticateUser } from '../auth/authenticate.ts'
import type { AppContext } from '../context.ts'
import { TEMPORARY_SUFFIX } from '../files/blob-store.ts'
import { HttpError, notFound } from '../http-errors.ts'
import { assetFileName, assetLockKey, collectAssetFile } from './asset-files.ts'

const UploadQuery = Type.Object({ type: Type.String({ pattern: '^[a-z]+/[a-z0-9.+-]{1,100}$' }) }, { additionalProperties: false })
const IdParams = Type.Object({ id: Type.String({ pattern: '^[1-9][0-9]{0,17}$' }) })

interface AssetRow {
  id: string
  md5: string
  content_type: string
  size: number
}

const present = (row: AssetRow): Record<string, unknown> => ({ id: Number(row.id), md5: row.md5, type: row.content_type, size: row.size })

export function assetRoutes(ctx: AppContext) {
  const { db, assetFiles: store, config } = ctx
  return async (app: FastifyInstance): Promise<void> => {
    // The body is streamed, not buffered: it is hashed and written as it arrives.
    app.addContentTypeParser('application/octet-stream', { bodyLimit: config.maxUploadBytes }, (_request, payload, done) => done(null, payload))
    app.addHook('preHandler', async (request) => {
      request.user = await authenticateUser(app, request)
    })

    app.post('/assets', { schema: { querystring: UploadQuery }, bodyLimit: config.maxUploadBytes }, async (request, reply) => {
      const { type } = request.query as { type: string }
      if (request.headers['content-type'] !== 'application/octet-stream') {
        throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Upload the bytes with Content-Type: application/octet-stream and the asset type in ?type=.')
      }
      const temporary = path.join(store.dir, `upload-${randomBytes(8).toString('hex')}${TEMPORARY_SUFFIX}`)
      const md5 = createHash('md5')
      let size = 0
      try {
        const hashing = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            size += chunk.length
            if (size > config.maxUploadBytes) return callback(new HttpError(413, 'PAYLOAD_TOO_LARGE', `Assets are limited to ${config.maxUploadBytes} bytes.`))
            md5.update(chunk)
            callback(null, chunk)
          },
        })
        await pipeline(request.body as Readable, hashing, createWriteStream(temporary))
      } catch (err) {
        await rm(temporary, { force: true })
        throw err
      }
      if (size === 0) {
        await rm(temporary, { force: true })
        throw new HttpError(400, 'EMPTY_UPLOAD', 'The upload is empty.')
      }
      const digest = md5.digest('hex')
      const name = assetFileName(digest, type)
      try {
        const { row, created } = await db.transaction(async (tx) => {
          // Serialise uploads of the same content: whoever creates the row also puts the file in place before commit.
          await tx.advisoryLock(assetLockKey(name))
          const result = await getOrCreate<AssetRow>(db, {
            table: 'assets',
            key: { md5: digest, content_type: type },
            values: { size, created_by: request.user.id },
            returning: ['id', 'md5', 'content_type', 'size'],
          })
          await store.adopt(name, temporary)
          await ctx.faults.beforeCommit?.()
          return result
        })
        return reply.status(created ? 201 : 200).send(present(row))
      } catch (err) {
        // The file may be in place with no row to name it: remove it, or leave it to a later
        // upload of the same bytes if the database cannot be asked now.
        await collectAssetFile(db, store, digest, type).catch((collectErr: unknown) =>
          request.log.warn({ err: collectErr, file: name }, 'could not check the file of a failed upload'),
        )
        throw err
      } finally {
        await rm(temporary, { force: true })
      }
    })

    app.get('/assets/:id', { schema: { params: IdParams } }, async (request, reply) => {
      const { id } = request.params as { id: string }
      const row = await db.maybeOne<AssetRow>(sql`SELECT id, md5, content_type, size FROM assets WHERE id = ${id}`)
      if (row === null) throw notFound('asset')
      return reply.type(row.content_type).header('content-md5', Buffer.from(row.md5, 'hex').toString('base64')).send(await store.read(assetFileName(row.md5, row.content_type)))
    })
  }
}
