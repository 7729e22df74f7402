/**
 * Incident 001: the same file uploaded by many users at once. Check-then-insert deduplication
 * races: some uploads fail on the unique key, or rows and files multiply.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { filesAgainstRows } from '../checks/files.ts'
import { startClassroom } from '../classroom-service.ts'
import { naivePool, virtualUsers } from '../naive-pool.ts'
import { defineScenario } from '../scenario.ts'

/** A handful of distinct files, each uploaded by many users at once. */
const DISTINCT = 4

export default defineScenario<{ ids: Map<number, number | null>; filesDir: string; contents: Buffer[] }>({
  id: 6,
  name: 'concurrent identical uploads',
  incident: '001_5faa3aecd5aebae6.txt',
  failure: 'check-then-insert deduplication: duplicate rows and files, failed uploads',
  async setup(ctx, client) {
    if (ctx.variant === 'naive') {
      await client.query(
        `CREATE TABLE assets (id serial PRIMARY KEY, md5 text NOT NULL, content_type text NOT NULL, size int NOT NULL, UNIQUE (md5, content_type))`,
      )
    }
  },

  async naive(ctx) {
    const pool = naivePool(ctx)
    const filesDir = path.join(ctx.dir, 'assets')
    await mkdir(filesDir, { recursive: true })
    const contents = Array.from({ length: DISTINCT }, () => randomBytes(4096))
    const ids = new Map<number, number | null>()
    await virtualUsers(ctx.users, async (i) => {
      const bytes = contents[i % DISTINCT] as Buffer
      const r = await ctx.recorder.op(async () => {
        const md5 = createHash('md5').update(bytes).digest('hex')
        const existing = await pool.query<{ id: number }>('SELECT id FROM assets WHERE md5 = $1 AND content_type = $2', [md5, 'image/png'])
        if (existing.rows[0]) return existing.rows[0].id
        await writeFile(path.join(filesDir, `${md5}.image_png`), bytes)
        const created = await pool.query<{ id: number }>('INSERT INTO assets (md5, content_type, size) VALUES ($1, $2, $3) RETURNING id', [
          md5,
          'image/png',
          bytes.length,
        ])
        return created.rows[0]?.id ?? null
      })
      ids.set(i, r.ok ? r.value : null)
    })
    return { ids, filesDir, contents }
  },

  async pgsteward(ctx) {
    const service = await startClassroom(ctx)
    const token = await service.login('uploader')
    const contents = Array.from({ length: DISTINCT }, () => randomBytes(4096))
    const ids = new Map<number, number | null>()
    await virtualUsers(ctx.users, async (i) => {
      const r = await ctx.recorder.op(async () => {
        const res = await fetch(`${service.url}/assets?type=image/png`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
          body: contents[i % DISTINCT],
        })
        if (res.status !== 200 && res.status !== 201) throw new Error(`upload answered ${res.status}`)
        return ((await res.json()) as { id: number }).id
      })
      ids.set(i, r.ok ? r.value : null)
    })
    return { ids, filesDir: service.app.context.assetFiles.dir, contents }
  },

  async check(ctx, { ids, filesDir, contents }) {
    const rows = await ctx.admin<{ id: number; md5: string; content_type: string }>('SELECT id::int AS id, md5, content_type FROM assets')
    const out: string[] = []
    const md5s = contents.map((c) => createHash('md5').update(c).digest('hex'))
    for (const md5 of md5s) {
      const matching = rows.filter((r) => r.md5 === md5)
      if (matching.length !== 1) out.push(`content ${md5.slice(0, 8)}… has ${matching.length} rows`)
    }
    let failed = 0
    let mismatched = 0
    for (const [i, id] of ids) {
      if (id === null) failed++
      else if (rows.find((r) => r.id === id)?.md5 !== md5s[i % DISTINCT]) mismatched++
    }
    if (failed > 0) out.push(`${failed} upload(s) failed instead of getting the existing asset`)
    if (mismatched > 0) out.push(`${mismatched} uploader(s) got an id that is not their content's row`)
    out.push(
      ...(await filesAgainstRows(
        filesDir,
        rows.map((r) => `${r.md5}.${r.content_type.replace('/', '_')}`),
      )),
    )
    return out
  },
})
