/** The backpack: a user's saved items referencing assets. Each operation is one transaction. */
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { sql } from 'pgsteward'
import { authenticateUser } from '../auth/authenticate.ts'
import type { AppContext } from '../context.ts'
import { notFound } from '../http-errors.ts'
import { PageQuery, pageOf, pageStart, type Page } from '../pagination.ts'

const AddBody = Type.Object({ assetId: Type.Integer({ minimum: 1 }), label: Type.String({ maxLength: 200, default: '' }) }, { additionalProperties: false })
const ItemParams = Type.Object({ itemId: Type.String({ pattern: '^[1-9][0-9]{0,17}$' }) })

interface ItemRow {
  id: string
  asset_id: string
  label: string
  created_at: Date
}

const present = (r: ItemRow): Record<string, unknown> => ({ id: Number(r.id), assetId: Number(r.asset_id), label: r.label, createdAt: r.created_at })

export function backpackRoutes(ctx: AppContext) {
  const { db } = ctx
  return async (app: FastifyInstance): Promise<void> => {
    app.addHook('preHandler', async (request) => {
      request.user = await authenticateUser(app, request)
    })

    app.post('/backpack', { schema: { body: AddBody } }, async (request, reply) => {
      const { assetId, label } = request.body as { assetId: number; label: string }
      const { item, created } = await db.transaction(async (tx) => {
        const asset = await tx.maybeOne(sql`SELECT 1 FROM assets WHERE id = ${assetId} FOR SHARE`)
        if (asset === null) throw notFound('asset')
        const inserted = await tx.maybeOne<ItemRow>(sql`INSERT INTO backpack_items (user_id, asset_id, label) VALUES (${request.user.id}, ${assetId}, ${label})
          ON CONFLICT (user_id, asset_id) DO NOTHING RETURNING id, asset_id, label, created_at`)
        if (inserted !== null) return { item: inserted, created: true }
        // Already in the backpack: adding is idempotent.
        const existing = await tx.one<ItemRow>(sql`SELECT id, asset_id, label, created_at FROM backpack_items WHERE user_id = ${request.user.id} AND asset_id = ${assetId}`)
        return { item: existing, created: false }
      })
      return reply.status(created ? 201 : 200).send(present(item))
    })

    app.get('/backpack', { schema: { querystring: PageQuery } }, async (request) => {
      const page = request.query as Page
      const items = await db.query<ItemRow>(sql`SELECT id, asset_id, label, created_at FROM backpack_items
        WHERE user_id = ${request.user.id} AND id > ${pageStart(page)} ORDER BY id LIMIT ${page.limit + 1}`)
      const { rows, next } = pageOf(items.rows, page)
      return { items: rows.map(present), next }
    })

    app.delete('/backpack/:itemId', { schema: { params: ItemParams } }, async (request, reply) => {
      const { itemId } = request.params as { itemId: string }
      const removed = await db.maybeOne(sql`DELETE FROM backpack_items WHERE id = ${itemId} AND user_id = ${request.user.id} RETURNING id`)
      if (removed === null) throw notFound('backpack item')
      return reply.status(204).send()
    })
  }
}
