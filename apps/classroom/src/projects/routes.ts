/**
 * Projects: files and row as one unit, optimistic updates with If-Match, idempotent sharing,
 * snapshot copies, deletes that never orphan a file. Readers are the owner and members of a
 * group the project is shared with; everyone else gets 404, as if it did not exist.
 */
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { getOrCreate, sql, updateVersioned, type Queryable } from 'pgsteward'
import { authenticateUser, type AuthUser } from '../auth/authenticate.ts'
import type { AppContext } from '../context.ts'
import { HttpError, badRequest, notFound } from '../http-errors.ts'
import { PageQuery, pageOf, pageStart, type Page } from '../pagination.ts'
import {
  claimExistingBlobs,
  collectBlobs,
  describeFiles,
  insertFileRows,
  writeBlobs,
  type FileInput,
  type StoredFile,
} from './project-files.ts'

const FileSchema = Type.Object(
  { path: Type.String({ minLength: 1, maxLength: 400 }), content: Type.String({ maxLength: 1_000_000 }) },
  { additionalProperties: false },
)
const ProjectName = Type.String({ minLength: 1, maxLength: 200 })
const CreateBody = Type.Object({ name: ProjectName, files: Type.Array(FileSchema, { maxItems: 100, default: [] }) }, { additionalProperties: false })
const UpdateBody = Type.Object({ name: Type.Optional(ProjectName), files: Type.Optional(Type.Array(FileSchema, { maxItems: 100 })) }, { additionalProperties: false })
const ShareBody = Type.Object(
  { groups: Type.Array(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._@-]+$' }), { minItems: 1, maxItems: 50 }) },
  { additionalProperties: false },
)
const IdParams = Type.Object({ id: Type.String({ pattern: '^[1-9][0-9]{0,17}$' }) })

interface ProjectRow {
  id: string
  owner_id: string
  name: string
  version: number
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

/** If-Match carries the version the client read, bare or as an ETag. */
function expectedVersion(request: FastifyRequest, required: boolean): number | undefined {
  const header = request.headers['if-match']
  if (header === undefined) {
    if (required) throw new HttpError(428, 'PRECONDITION_REQUIRED', 'Send If-Match: <version> with the version you read, so a concurrent change is not overwritten.')
    return undefined
  }
  const match = /^\s*(?:W\/)?"?(\d{1,9})"?\s*$/.exec(header)
  if (!match?.[1]) throw badRequest('If-Match must be the project version you read, e.g. If-Match: 3.')
  return Number(match[1])
}

function present(row: ProjectRow, files: StoredFile[]): Record<string, unknown> {
  return { id: Number(row.id), ownerId: Number(row.owner_id), name: row.name, version: row.version, files }
}

export function projectRoutes(ctx: AppContext) {
  const { db, projectFiles: store } = ctx

  /** Run a write that adds blobs; if it fails, blobs it wrote and nobody references are removed. */
  async function withNewBlobs<T>(described: StoredFile[], work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (err) {
      await collectBlobs(
        db,
        store,
        described.map((d) => d.sha256),
      )
      throw err
    }
  }

  return async (app: FastifyInstance): Promise<void> => {
    app.addHook('preHandler', async (request) => {
      request.user = await authenticateUser(app, request)
    })

    app.post('/projects', { schema: { body: CreateBody } }, async (request, reply) => {
      const user = request.user
      const { name, files } = request.body as { name: string; files: FileInput[] }
      const described = describeFiles(files)
      const row = await withNewBlobs(described, () =>
        db.transaction(async (tx) => {
          await writeBlobs(tx, store, files, described)
          const project = await tx.one<ProjectRow>(sql`INSERT INTO projects (owner_id, name) VALUES (${user.id}, ${name}) RETURNING id, owner_id, name, version`)
          await insertFileRows(tx, project.id, described)
          await ctx.faults.beforeCommit?.()
          return project
        }),
      )
      return reply.status(201).header('etag', `"${row.version}"`).send(present(row, described))
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
      // One snapshot for row and file list, so a concurrent update is seen whole or not at all.
      const result = await db.transaction(
        async (tx) => {
          const row = await readable(tx, id, request.user)
          if (row === null) return null
          const files = await tx.query<StoredFile>(sql`SELECT path, sha256, size FROM project_files WHERE project_id = ${id} ORDER BY path`)
          return { row, files: files.rows }
        },
        { isolation: 'repeatable read', readOnly: true },
      )
      if (result === null) throw notFound('project')
      const withContent = await Promise.all(result.files.map(async (f) => ({ ...f, content: (await store.read(f.sha256)).toString('utf8') })))
      return reply.header('etag', `"${result.row.version}"`).send(present(result.row, withContent))
    })

    app.put('/projects/:id', { schema: { params: IdParams, body: UpdateBody } }, async (request, reply) => {
      const { id } = request.params as { id: string }
      const version = expectedVersion(request, true) as number
      const body = request.body as { name?: string; files?: FileInput[] }
      const described = body.files ? describeFiles(body.files) : []
      const { row, dropped } = await withNewBlobs(described, () =>
        db.transaction(async (tx) => {
          const current = await readable(tx, id, request.user)
          if (current === null) throw notFound('project')
          if (current.owner_id !== String(request.user.id)) throw new HttpError(403, 'FORBIDDEN', 'Only the owner can change a project.')
          if (body.files) await writeBlobs(tx, store, body.files, described)
          // Throws StaleVersionError (409 with the current version) if someone changed it since it was read.
          const updated = await updateVersioned<ProjectRow>(db, {
            table: 'projects',
            key: { id },
            expectedVersion: version,
            set: { ...(body.name !== undefined ? { name: body.name } : {}), updated_at: new Date() },
            returning: ['id', 'owner_id', 'name', 'version'],
          })
          let old: string[] = []
          if (body.files) {
            old = (await tx.query<{ sha256: string }>(sql`DELETE FROM project_files WHERE project_id = ${id} RETURNING sha256`)).rows.map((r) => r.sha256)
            await insertFileRows(tx, id, described)
          }
          await ctx.faults.beforeCommit?.()
          return { row: updated, dropped: old }
        }),
      )
      await collectBlobs(db, store, dropped)
      const files = body.files ? described : (await db.query<StoredFile>(sql`SELECT path, sha256, size FROM project_files WHERE project_id = ${id} ORDER BY path`)).rows
      return reply.header('etag', `"${row.version}"`).send(present(row, files))
    })

    app.post('/projects/:id/share', { schema: { params: IdParams, body: ShareBody } }, async (request) => {
      const { id } = request.params as { id: string }
      const { groups } = request.body as { groups: string[] }
      const names = [...new Set(groups)].sort()
      const groupIds: string[] = []
      for (const name of names) groupIds.push((await getOrCreate<{ id: string }>(db, { table: 'groups', key: { name }, returning: ['id'] })).row.id)
      await db.transaction(async (tx) => {
        const row = await readable(tx, id, request.user)
        if (row === null) throw notFound('project')
        if (row.owner_id !== String(request.user.id)) throw new HttpError(403, 'FORBIDDEN', 'Only the owner can share a project.')
        // Idempotent: sharing twice, or from many requests at once, leaves one link per group.
        await tx.query(sql`INSERT INTO project_shares (project_id, group_id)
          SELECT ${id}::bigint, g FROM unnest(${groupIds}::bigint[]) AS g ORDER BY g ON CONFLICT DO NOTHING`)
      })
      const shared = await db.query<{ name: string }>(sql`SELECT g.name FROM project_shares s JOIN groups g ON g.id = s.group_id WHERE s.project_id = ${id} ORDER BY g.name`)
      return { id: Number(id), groups: shared.rows.map((r) => r.name) }
    })

    app.post('/projects/:id/copy', { schema: { params: IdParams } }, async (request, reply) => {
      const { id } = request.params as { id: string }
      // Repeatable read: the row and its files are read from one snapshot while writers go on.
      const copy = await db.transaction(
        async (tx) => {
          const source = await readable(tx, id, request.user)
          if (source === null) throw notFound('project')
          const files = (await tx.query<StoredFile>(sql`SELECT path, sha256, size FROM project_files WHERE project_id = ${id} ORDER BY path`)).rows
          if (!(await claimExistingBlobs(tx, store, files.map((f) => f.sha256)))) {
            throw new HttpError(409, 'CONFLICT', 'The project changed while it was being copied; try again.')
          }
          const row = await tx.one<ProjectRow>(sql`INSERT INTO projects (owner_id, name) VALUES (${request.user.id}, ${source.name}) RETURNING id, owner_id, name, version`)
          await insertFileRows(tx, row.id, files)
          return present(row, files)
        },
        { isolation: 'repeatable read' },
      )
      return reply.status(201).send(copy)
    })

    app.delete('/projects/:id', { schema: { params: IdParams } }, async (request, reply) => {
      const { id } = request.params as { id: string }
      const version = expectedVersion(request, false)
      const dropped = await db.transaction(async (tx) => {
        const row = await readable(tx, id, request.user, 'FOR UPDATE OF p')
        if (row === null) throw notFound('project')
        if (row.owner_id !== String(request.user.id)) throw new HttpError(403, 'FORBIDDEN', 'Only the owner can delete a project.')
        if (version !== undefined && version !== row.version) {
          throw new HttpError(409, 'STALE_VERSION', `The project is at version ${row.version}, not ${version}.`, { currentVersion: row.version })
        }
        const files = await tx.query<{ sha256: string }>(sql`SELECT sha256 FROM project_files WHERE project_id = ${id}`)
        await tx.query(sql`DELETE FROM projects WHERE id = ${id}`)
        await ctx.faults.beforeCommit?.()
        return files.rows.map((f) => f.sha256)
      })
      await collectBlobs(db, store, dropped)
      return reply.status(204).send()
    })
  }
}
