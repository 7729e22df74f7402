/**
 * Login from the development identity provider (username + group names, the shape of an OAuth
 * callback): get-or-create the user and its groups, and make its memberships exactly the groups
 * given. Race-free: concurrent first logins of one user create one user and no duplicate rows.
 */
import { getOrCreate, sql, type Database } from 'pgsteward'

export interface Identity {
  userId: number
  username: string
  groups: string[]
}

export async function upsertIdentity(db: Database, username: string, groupNames: string[]): Promise<Identity> {
  const names = [...new Set(groupNames)].sort()
  const { row: user } = await getOrCreate<{ id: string }>(db, { table: 'users', key: { username }, returning: ['id'] })
  const groupIds: string[] = []
  for (const name of names) {
    const { row } = await getOrCreate<{ id: string }>(db, { table: 'groups', key: { name }, returning: ['id'] })
    groupIds.push(row.id)
  }
  await db.transaction(async (tx) => {
    // Sorted ids: concurrent logins take row locks in the same order and cannot deadlock.
    await tx.query(sql`INSERT INTO memberships (user_id, group_id)
      SELECT ${user.id}::bigint, g FROM unnest(${groupIds}::bigint[]) AS g ORDER BY g
      ON CONFLICT DO NOTHING`)
    await tx.query(sql`DELETE FROM memberships WHERE user_id = ${user.id} AND NOT (group_id = ANY(${groupIds}::bigint[]))`)
  })
  return { userId: Number(user.id), username, groups: names }
}

/** Whether the user belongs to the group, as of their last login. */
export async function isMember(db: Database, userId: number, groupName: string): Promise<boolean> {
  const row = await db.maybeOne(sql`SELECT 1 FROM memberships m JOIN groups g ON g.id = m.group_id WHERE m.user_id = ${userId} AND g.name = ${groupName}`)
  return row !== null
}
