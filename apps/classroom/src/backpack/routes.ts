/**
 * The backpack: a user's saved items referencing assets they can read. Each operation is one
 * transaction; saving is idempotent (the same asset twice is one item).
 */
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { sql } from 'pgsteward'
import { readableAsset } from '../assets/asset-access.ts'
import type { AppContext } from '../context.ts'
import { fingerprintOf, idempotencyKey, once, sendStored } from '../http/idempotency.ts'
import { RowId, Text } from '../http/schemas.ts'
import { notFound } from '../http-errors.ts'
import { PageQuery, pageOf, pageStart, type Page } from '../pagination.ts'

const AddBody = Type.Object({ assetId: RowId(), label: Text({ maxLength: 200, default: '' }) }, { additionalProperties: false })
const ItemParams = Type.Object({ itemId: Type.String({ pattern: '^[1-9][0-9]{0,14}$' }) })

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
    app.addHook('onRequest', async (request) => {
      request.user = await ctx.auth.user(request)
    })

    app.post('/backpack', { schema: { body: AddBody } }, async (request, reply) => {
      const { assetId, label } = request.body as { assetId: number; label: string }
      const key = idempotencyKey(request)
      const response = await db.transaction((tx) =>
        once(tx, { principal: `user:${request.user.id}`, key, fingerprint: fingerprintOf(request) }, async () => {
          // Only what the user can read may be saved (and saving is what keeps it readable to them).
          if ((await readableAsset(tx, assetId, request.user.id, 'FOR SHARE OF a')) === null) throw notFound('asset')
          const inserted =
            await tx.maybeOne<ItemRow>(sql`INSERT INTO backpack_items (user_id, asset_id, label) VALUES (${request.user.id}, ${assetId}, ${label})
            ON CONFLICT (user_id, asset_id) DO NOTHING RETURNING id, asset_id, label, created_at`)
          if (inserted !== null) return { status: 201, body: present(inserted), headers: {} }
          // Already in the backpack: adding is idempotent.
          const existing = await tx.one<ItemRow>(
            sql`SELECT id, asset_id, label, created_at FROM backpack_items WHERE user_id = ${request.user.id} AND asset_id = ${assetId}`,
          )
          return { status: 200, body: present(existing), headers: {} }
        }),
      )
      return sendStored(reply, response)
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
