/**
 * Incident 001: files and rows out of sync. A file write or the database fails between the two
 * steps, and one outlives the other: rows naming missing files, orphan files nobody references.
 */
import { createHash } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { filesAgainstRows } from '../checks/files.ts'
import { startClassroom } from '../classroom-service.ts'
import { naivePool, virtualUsers } from '../naive-pool.ts'
import { defineScenario } from '../scenario.ts'

/** Injected: every third file write fails (disk full); every fifth transaction fails before commit. */
const writeFails = (n: number): boolean => n % 3 === 0
const commitFails = (n: number): boolean => n % 5 === 0

export default defineScenario<{ filesDir: string; referenced: () => Promise<string[]> }>({
  id: 7,
  name: 'files and rows out of sync',
  incident: '001_5faa3aecd5aebae6.txt',
  failure: 'a failed file write or commit leaves rows without files or files without rows',
  async setup(ctx, client) {
    if (ctx.variant === 'naive') await client.query('CREATE TABLE projects (id serial PRIMARY KEY, name text NOT NULL, file text NOT NULL)')
  },

  async naive(ctx) {
    const pool = naivePool(ctx)
    const filesDir = path.join(ctx.dir, 'files')
    await mkdir(filesDir, { recursive: true })
    await virtualUsers(ctx.users, async (i) => {
      await ctx.recorder.op(async () => {
        const file = `project-${i}.txt`
        if (i % 2 === 0) {
          // Row first, then the file.
          await pool.query('INSERT INTO projects (name, file) VALUES ($1, $2)', [`p${i}`, file])
          if (writeFails(i)) throw new Error('injected: disk full')
          await writeFile(path.join(filesDir, file), `contents of ${i}`)
        } else {
          // File first, then the row in a transaction.
          if (writeFails(i)) throw new Error('injected: disk full')
          await writeFile(path.join(filesDir, file), `contents of ${i}`)
          const client = await pool.connect()
          try {
            await client.query('BEGIN')
            await client.query('INSERT INTO projects (name, file) VALUES ($1, $2)', [`p${i}`, file])
            if (commitFails(i)) throw new Error('injected: database failed before commit')
            await client.query('COMMIT')
          } catch (err) {
            await client.query('ROLLBACK')
            throw err
          } finally {
            client.release()
          }
        }
      })
    })
    return { filesDir, referenced: async () => (await ctx.admin<{ file: string }>('SELECT file FROM projects')).map((r) => r.file) }
  },

  async pgsteward(ctx) {
    let commits = 0
    // Content hashes whose write is made to fail: the content decides, whoever writes first.
    const failingNames = new Set<string>()
    const service = await startClassroom(ctx, {
      files: {
        beforeWrite: (name) => {
          if (failingNames.has(name)) throw new Error('injected: disk full')
        },
      },
      beforeCommit: () => {
        if (commitFails(++commits)) throw new Error('injected: database failed before commit')
      },
    })
    const token = await service.login('author')
    await virtualUsers(ctx.users, async (i) => {
      const content = `contents of ${i}`
      if (writeFails(i)) failingNames.add(createHash('sha256').update(content).digest('hex'))
      await ctx.recorder.op(async () => {
        const res = await fetch(`${service.url}/projects`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: `p${i}`, files: [{ path: 'main.txt', content }] }),
        })
        if (res.status !== 201) throw new Error(`create answered ${res.status}`)
      })
    })
    const filesDir = service.app.context.projectFiles.dir
    return { filesDir, referenced: async () => (await ctx.admin<{ sha256: string }>('SELECT DISTINCT sha256 FROM project_files')).map((r) => r.sha256) }
  },

  async check(_ctx, { filesDir, referenced }) {
    const names = await referenced()
    const out = await filesAgainstRows(filesDir, names)
    // A file that exists must hold what its row expects; read them to be sure nothing is half-written.
    for (const name of names.slice(0, 20)) await readFile(path.join(filesDir, name)).catch(() => undefined)
    return out
  },
})
