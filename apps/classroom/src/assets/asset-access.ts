/**
 * Who may read an asset: whoever uploaded it, saved it in their backpack, or can read a project
 * that uses it. Everyone else is told it does not exist (404), so ids cannot be counted through.
 */
import { sql, type Queryable, type SqlFragment } from 'pgsteward'

export interface AssetRow {
  id: string
  md5: string
  content_type: string
  size: number
}

/** SQL: the asset `a` is readable by `userId`. */
export function assetReadableBy(userId: number): SqlFragment {
  return sql`(a.created_by = ${userId}
    OR EXISTS (SELECT 1 FROM backpack_items b WHERE b.asset_id = a.id AND b.user_id = ${userId})
    OR EXISTS (SELECT 1 FROM project_assets pa JOIN projects p ON p.id = pa.project_id
      WHERE pa.asset_id = a.id AND (p.owner_id = ${userId} OR EXISTS (
        SELECT 1 FROM project_shares s JOIN memberships m ON m.group_id = s.group_id
        WHERE s.project_id = p.id AND m.user_id = ${userId}))))`
}

export function readableAsset(db: Queryable, id: string | number, userId: number, lock = ''): Promise<AssetRow | null> {
  return db.maybeOne<AssetRow>(sql`SELECT a.id, a.md5, a.content_type, a.size FROM assets a
    WHERE a.id = ${id} AND ${assetReadableBy(userId)} ${sql.unsafe(lock)}`)
}

/** Of these asset ids, those `userId` may read. */
export async function readableAssetIds(db: Queryable, ids: readonly number[], userId: number): Promise<Set<number>> {
  if (ids.length === 0) return new Set()
  const { rows } = await db.query<{ id: string }>(
    sql`SELECT a.id FROM assets a WHERE a.id = ANY(${ids}::bigint[]) AND ${assetReadableBy(userId)} FOR SHARE OF a`,
  )
  return new Set(rows.map((row) => Number(row.id)))
}
