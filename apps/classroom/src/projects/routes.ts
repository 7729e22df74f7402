/**
 * Projects: files and row as one unit, optimistic updates with If-Match, idempotent sharing,
 * snapshot copies, deletes that never orphan a file. Readers are the owner and members of a
 * group the project is shared with; everyone else gets 404, as if it did not exist.
 *
 * Nothing runs after a write's commit that could turn it into an error: files it stopped using
 * are released in its transaction (the sweep removes them later) and the answer is built from
 * what the transaction read.
 */
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { getOrCreate, sql, updateVersioned, type Queryable, type Transaction } from 'pgsteward'
import type { AuthUser } from '../auth/authenticate.ts'
import { readableAssetIds, type AssetRow } from '../assets/asset-access.ts'
import type { AppContext } from '../context.ts'
import { fingerprintOf, idempotencyKey, once, sendStored } from '../http/idempotency.ts'
import { parseIfMatch, versionToExpect } from '../http/if-match.ts'
import { IdParams, PRINTABLE, RowId, Text } from '../http/schemas.ts'
import { HttpError, invalidField, notFound } from '../http-errors.ts'
import { PageQuery, pageOf, pageStart, type Page } from '../pagination.ts'
import { claimExistingBlobs, collectBlobs, describeFiles, insertFileRows, releaseBlobs, writeBlobs, type FileInput, type StoredFile } from './project-files.ts'

const FileSchema = Type.Object(
  // File contents live on disk, not in a text column: any character is fine there.
  { path: Type.String({ minLength: 1, maxLength: 400 }), content: Type.String({ maxLength: 1_000_000 }) },
  { additionalProperties: false },
)
const ProjectName = Text({ minLength: 1, maxLength: 200 })
const AssetIds = Type.Array(RowId(), { maxItems: 100 })
const CreateBody = Type.Object(
  { name: ProjectName, files: Type.Array(FileSchema, { maxItems: 100, default: [] }), assets: Type.Optional(AssetIds) },
  { additionalProperties: false },
)
const UpdateBody = Type.Object(
  { name: Type.Optional(ProjectName), files: Type.Optional(Type.Array(FileSchema, { maxItems: 100 })), assets: Type.Optional(AssetIds) },
  { additionalProperties: false },
)
const ShareBody = Type.Object(
  { groups: Type.Array(Type.String({ minLength: 1, maxLength: 200, pattern: PRINTABLE }), { minItems: 1, maxItems: 50 }) },
  { additionalProperties: false },
)

/** A file is read this many times, each from a fresh snapshot, before its absence is an error. */
const READ_ATTEMPTS = 3

interface ProjectRow {
  id: string
  owner_id: string
  name: string
  version: number
}

interface ProjectContents {
  files: StoredFile[]
  assets: AssetRow[]
}

/** The project if `user` may read it; `null` otherwise (the caller answers 404 either way). */
function readable(tx: Queryable, id: string, user: AuthUser, lock = ''): Promise<ProjectRow | null> {
  return tx.maybeOne<ProjectRow>(sql`
    SELECT p.id, p.owner_id, p.name, p.version FROM projects p
    WHERE p.id = ${id} AND (p.owner_id = ${user.id} OR EXISTS (
      SELECT 1 FROM project_shares s JOIN memberships m ON m.group_id = s.group_id
      WHERE s.project_id = p.id AND m.user_id = ${user.id}))
    ${sql.unsafe(lock)}`)
}

async function contentsOf(tx: Queryable, id: string): Promise<ProjectContents> {
  const files = await tx.query<StoredFile>(sql`SELECT path, sha256, size FROM project_files WHERE project_id = ${id} ORDER BY path`)
  const assets = await tx.query<AssetRow>(sql`SELECT a.id, a.md5, a.content_type, a.size FROM project_assets pa JOIN assets a ON a.id = pa.asset_id
    WHERE pa.project_id = ${id} ORDER BY a.id`)
  return { files: files.rows, assets: assets.rows }
}

/** Inside the write: link the assets, each of which the writer must be able to read. */
async function linkAssets(tx: Transaction, projectId: string, assetIds: readonly number[], user: AuthUser, replace: boolean): Promise<void> {
  const wanted = [...new Set(assetIds)]
  const allowed = await readableAssetIds(tx, wanted, user.id)
  const refused = assetIds.findIndex((id) => !allowed.has(id))
  if (refused >= 0) throw invalidField(`assets.${refused}`, `names no asset you can read (${assetIds[refused]}).`)
  if (replace) await tx.query(sql`DELETE FROM project_assets WHERE project_id = ${projectId}`)
  if (wanted.length > 0) {
    await tx.query(
      sql`INSERT INTO project_assets (project_id, asset_id) SELECT ${projectId}::bigint, a FROM unnest(${wanted}::bigint[]) AS a ON CONFLICT DO NOTHING`,
    )
  }
}

function present(row: ProjectRow, contents: { files: unknown[]; assets: AssetRow[] }): Record<string, unknown> {
  return {
    id: Number(row.id),
    ownerId: Number(row.owner_id),
    name: row.name,
    version: row.version,
    files: contents.files,
    assets: contents.assets.map((a) => ({ id: Number(a.id), md5: a.md5, type: a.content_type, size: a.size })),
  }
}

const etagOf = (row: ProjectRow): string => `"${row.version}"`

export function projectRoutes(ctx: AppContext) {
  const { db, projectFiles: store, config } = ctx

  /** After a failed write: its new blobs that nothing references go now (or, if that fails too, later). */
  async function collectAfterFailure(described: StoredFile[]): Promise<void> {
    const shas = described.map((d) => d.sha256)
    await collectBlobs(db, store, shas, config.replacedFilesGraceMs).catch(() => ctx.sweeper.later('blobs', shas))
  }

  /** Run a write that adds blobs; if it fails, blobs it wrote and nobody references are removed. */
  async function withNewBlobs<T>(described: StoredFile[], work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (err) {
      await collectAfterFailure(described)
      throw err
    }
  }

  const principal = (request: FastifyRequest): string => `user:${request.user.id}`

  return async (app: FastifyInstance): Promise<void> => {
    // Before the body is read or validated: an anonymous caller learns nothing about the schema.
    app.addHook('onRequest', async (request) => {
      request.user = await ctx.auth.user(request)
    })

    app.post('/projects', { schema: { body: CreateBody } }, async (request, reply) => {
      const user = request.user
      const { name, files, assets } = request.body as { name: string; files: FileInput[]; assets?: number[] }
      const key = idempotencyKey(request)
      const described = describeFiles(files)
      const response = await withNewBlobs(described, () =>
        db.transaction((tx) =>
          once(tx, { principal: principal(request), key, fingerprint: fingerprintOf(request) }, async () => {
            await writeBlobs(tx, store, files, described)
            const project = await tx.one<ProjectRow>(
              sql`INSERT INTO projects (owner_id, name) VALUES (${user.id}, ${name}) RETURNING id, owner_id, name, version`,
            )
            await insertFileRows(tx, project.id, described)
            await linkAssets(tx, project.id, assets ?? [], user, false)
            const linked = await contentsOf(tx, project.id)
            await ctx.faults.beforeCommit?.()
            return { status: 201, body: present(project, linked), headers: { etag: etagOf(project), location: `/projects/${project.id}` } }
          }),
        ),
      )
      return sendStored(reply, response)
    })

    app.get('/projects', { schema: { querystring: PageQuery } }, async (request) => {
      const user = request.user
      const page = request.query as Page
      const found = await db.query<ProjectRow>(sql`
        SELECT p.id, p.owner_id, p.name, p.version FROM projects p
        WHERE p.id > ${pageStart(page)} AND (p.owner_id = ${user.id} OR EXISTS (
          SELECT 1 FROM project_shares s JOIN memberships m ON m.group_id = s.group_id
          WHERE s.project_id = p.id AND m.user_id = ${user.id}))
        ORDER BY p.id LIMIT ${page.limit + 1}`)
      const { rows, next } = pageOf(found.rows, page)
      return { projects: rows.map((r) => ({ id: Number(r.id), ownerId: Number(r.owner_id), name: r.name, version: r.version })), next }
    })

    app.get('/projects/:id', { schema: { params: IdParams } }, async (request, reply) => {
      const { id } = request.params as { id: string }
      for (let attempt = 1; ; attempt++) {
        // One snapshot for row and file list, so a concurrent update is seen whole or not at all.
        const result = await db.transaction(
          async (tx) => {
            const row = await readable(tx, id, request.user)
            return row === null ? null : { row, ...(await contentsOf(tx, id)) }
          },
          { isolation: 'repeatable read', readOnly: true },
        )
        if (result === null) throw notFound('project')
        try {
          const files = await Promise.all(result.files.map(async (f) => ({ ...f, content: (await store.read(f.sha256)).toString('utf8') })))
          return reply.header('etag', etagOf(result.row)).send(present(result.row, { files, assets: result.assets }))
        } catch (err) {
          // Replaced files stay for the grace period; a reader paused longer than that reads afresh.
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= READ_ATTEMPTS) throw err
        }
      }
    })

    app.put('/projects/:id', { schema: { params: IdParams, body: UpdateBody } }, async (request, reply) => {
      const { id } = request.params as { id: string }
      const condition = parseIfMatch(request.headers['if-match'])
      if (condition === undefined) {
        throw new HttpError(428, 'PRECONDITION_REQUIRED', 'Send If-Match with the ETag you read (If-Match: "3"), so a concurrent change is not overwritten.')
      }
      const body = request.body as { name?: string; files?: FileInput[]; assets?: number[] }
      const described = body.files ? describeFiles(body.files) : []
      const { row, contents } = await withNewBlobs(described, () =>
        db.transaction(async (tx) => {
          const current = await readable(tx, id, request.user)
          if (current === null) throw notFound('project')
          if (current.owner_id !== String(request.user.id)) throw new HttpError(403, 'FORBIDDEN', 'Only the owner can change a project.')
          if (body.files) await writeBlobs(tx, store, body.files, described)
          // Throws StaleVersionError (409 with the current version) if someone changed it since it was read.
          const updated = await updateVersioned<ProjectRow>(db, {
            table: 'projects',
            key: { id },
            expectedVersion: versionToExpect(condition, current.version),
            set: { ...(body.name !== undefined ? { name: body.name } : {}), updated_at: new Date() },
            returning: ['id', 'owner_id', 'name', 'version'],
          })
          if (body.files) {
            const old = (await tx.query<{ sha256: string }>(sql`DELETE FROM project_files WHERE project_id = ${id} RETURNING sha256`)).rows.map((r) => r.sha256)
            await insertFileRows(tx, id, described)
            const kept = new Set(described.map((d) => d.sha256))
            await releaseBlobs(
              tx,
              old.filter((sha) => !kept.has(sha)),
            )
          }
          if (body.assets) await linkAssets(tx, id, body.assets, request.user, true)
          const stored = await contentsOf(tx, id)
          await ctx.faults.beforeCommit?.()
          return { row: updated, contents: stored }
        }),
      )
      return reply.header('etag', etagOf(row)).send(present(row, contents))
    })

    app.post('/projects/:id/share', { schema: { params: IdParams, body: ShareBody } }, async (request) => {
      const { id } = request.params as { id: string }
      const { groups } = request.body as { groups: string[] }
      const names = [...new Set(groups)].sort()
      const groupIds: string[] = []
      for (const name of names) groupIds.push((await getOrCreate<{ id: string }>(db, { table: 'groups', key: { name }, returning: ['id'] })).row.id)
      const shared = await db.transaction(async (tx) => {
        const row = await readable(tx, id, request.user)
        if (row === null) throw notFound('project')
        if (row.owner_id !== String(request.user.id)) throw new HttpError(403, 'FORBIDDEN', 'Only the owner can share a project.')
        // Idempotent: sharing twice, or from many requests at once, leaves one link per group.
        await tx.query(sql`INSERT INTO project_shares (project_id, group_id)
          SELECT ${id}::bigint, g FROM unnest(${groupIds}::bigint[]) AS g ORDER BY g ON CONFLICT DO NOTHING`)
        return tx.query<{ name: string }>(
          sql`SELECT g.name FROM project_shares s JOIN groups g ON g.id = s.group_id WHERE s.project_id = ${id} ORDER BY g.name`,
        )
      })
      return { id: Number(id), groups: shared.rows.map((r) => r.name) }
    })

    app.post('/projects/:id/copy', { schema: { params: IdParams } }, async (request, reply) => {
      const { id } = request.params as { id: string }
      const key = idempotencyKey(request)
      // Repeatable read: the row and its files are read from one snapshot while writers go on.
      const response = await db.transaction(
        (tx) =>
          once(tx, { principal: principal(request), key, fingerprint: fingerprintOf(request) }, async () => {
            const source = await readable(tx, id, request.user)
            if (source === null) throw notFound('project')
            const { files, assets } = await contentsOf(tx, id)
            if (
              !(await claimExistingBlobs(
                tx,
                store,
                files.map((f) => f.sha256),
              ))
            ) {
              throw new HttpError(409, 'CONFLICT', 'The project changed while it was being copied; try again.')
            }
            const row = await tx.one<ProjectRow>(
              sql`INSERT INTO projects (owner_id, name) VALUES (${request.user.id}, ${source.name}) RETURNING id, owner_id, name, version`,
            )
            await insertFileRows(tx, row.id, files)
            // Whoever can read the source can read its assets: the copy uses them too.
            if (assets.length > 0) {
              await tx.query(
                sql`INSERT INTO project_assets (project_id, asset_id) SELECT ${row.id}::bigint, a FROM unnest(${assets.map((a) => a.id)}::bigint[]) AS a`,
              )
            }
            return { status: 201, body: present(row, { files, assets }), headers: { etag: etagOf(row), location: `/projects/${row.id}` } }
          }),
        { isolation: 'repeatable read' },
      )
      return sendStored(reply, response)
    })

    app.delete('/projects/:id', { schema: { params: IdParams } }, async (request, reply) => {
      const { id } = request.params as { id: string }
      const condition = parseIfMatch(request.headers['if-match'])
      await db.transaction(async (tx) => {
        const row = await readable(tx, id, request.user, 'FOR UPDATE OF p')
        if (row === null) throw notFound('project')
        if (row.owner_id !== String(request.user.id)) throw new HttpError(403, 'FORBIDDEN', 'Only the owner can delete a project.')
        if (condition !== undefined && versionToExpect(condition, row.version) !== row.version) {
          throw new HttpError(409, 'STALE_VERSION', `The project is at version ${row.version}, not the one you read.`, { currentVersion: row.version })
        }
        const files = await tx.query<{ sha256: string }>(sql`SELECT DISTINCT sha256 FROM project_files WHERE project_id = ${id}`)
        await tx.query(sql`DELETE FROM projects WHERE id = ${id}`)
        await releaseBlobs(
          tx,
          files.rows.map((f) => f.sha256),
        )
        await ctx.faults.beforeCommit?.()
      })
      return reply.status(204).send()
    })
  }
}
