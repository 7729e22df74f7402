/**
 * Outside production, secrets that are not set are generated once and kept in
 * DATA_DIR/secrets.json (mode 600): tokens survive a restart, and `npm run service-token` can
 * print the grader's token for the running service. In production they must be set.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'

export const SECRET_NAMES = ['JWT_SECRET', 'SERVICE_SECRET'] as const
export type SecretName = (typeof SECRET_NAMES)[number]

export const secretsFile = (dataDir: string): string => path.join(dataDir, 'secrets.json')

async function readSecrets(dataDir: string): Promise<Partial<Record<SecretName, string>>> {
  const text = await readFile(secretsFile(dataDir), 'utf8').catch(() => undefined)
  if (text === undefined) return {}
  try {
    return JSON.parse(text) as Partial<Record<SecretName, string>>
  } catch {
    return {}
  }
}

/**
 * The environment with every unset secret filled in from DATA_DIR/secrets.json (created as
 * needed), and the names filled in that way. Production environments are returned unchanged.
 */
export async function withDevelopmentSecrets(env: NodeJS.ProcessEnv, dataDir: string): Promise<{ env: NodeJS.ProcessEnv; fromFile: SecretName[] }> {
  if ((env.NODE_ENV ?? 'development') === 'production') return { env, fromFile: [] }
  const missing = SECRET_NAMES.filter((name) => (env[name] ?? '') === '')
  if (missing.length === 0) return { env, fromFile: [] }
  const stored = await readSecrets(dataDir)
  let changed = false
  for (const name of missing) {
    if (typeof stored[name] === 'string' && stored[name].length >= 32) continue
    stored[name] = randomBytes(32).toString('hex')
    changed = true
  }
  if (changed) {
    await mkdir(dataDir, { recursive: true })
    await writeFile(secretsFile(dataDir), `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 })
  }
  return { env: { ...env, ...Object.fromEntries(missing.map((name) => [name, stored[name]])) }, fromFile: missing }
}

/** One secret as the service would use it: the environment's, else the one kept for development. */
export async function secretFor(name: SecretName, env: NodeJS.ProcessEnv, dataDir: string): Promise<string | undefined> {
  const given = env[name]
  if (given !== undefined && given !== '') return given
  return (await readSecrets(dataDir))[name]
}
