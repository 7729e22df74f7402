/**
 * The live dashboard in a real browser: headless Chromium (Debian's `chromium`, driven by
 * playwright-core) loads the page over plain http, the test puts load on the pool, and the
 * numbers on the page must follow. Screenshots and the figures read from the page go to
 * packages/pgsteward/test-output/ (ignored by git). Without Chromium the test reports itself
 * skipped with the command that installs it.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { sql } from 'pgsteward'
import { createDashboard } from 'pgsteward/dashboard'
import { setup } from './support.ts'

const CHROMIUM = '/usr/bin/chromium'
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
const OUTPUT = fileURLToPath(new URL('../test-output/', import.meta.url))
const skip = existsSync(CHROMIUM) ? false : `Chromium not found at ${CHROMIUM}: install it with apt-get install -y chromium`

/** Waits on the page are on the thing under test (the page following the pool), bounded generously for a loaded machine. */
const PAGE_TIMEOUT_MS = 30_000

/** The little of the DOM the page-side functions use (this project's TypeScript has no DOM library). */
interface PageGlobals {
  document: { querySelector(selector: string): { textContent: string | null } | null; documentElement: { scrollWidth: number }; body: object }
  innerWidth: number
  getComputedStyle: (element: object) => { backgroundColor: string }
}

const ctx = skip === false ? await setup('dashboard_browser') : undefined

async function metric(page: Page, name: string): Promise<string> {
  return (await page.locator(`[data-metric="${name}"]`).first().textContent()) ?? ''
}

/** Wait until the page shows exactly `expected` for `name`, or (with a number) a value above it. */
async function shows(page: Page, name: string, expected: string | { above: number }, what: string): Promise<string> {
  try {
    // Predicates are data, not code: the page's CSP allows no eval.
    await page.waitForFunction(
      ([selector, exact, above]) => {
        // Runs in the page: only what is written here travels, so no helpers from this file.
        const text = (globalThis as unknown as PageGlobals).document.querySelector(selector)?.textContent ?? ''
        return exact !== null ? text === exact : Number(text) > (above as number)
      },
      [`[data-metric="${name}"]`, typeof expected === 'string' ? expected : null, typeof expected === 'string' ? null : expected.above] as const,
      { timeout: PAGE_TIMEOUT_MS, polling: 50 },
    )
  } catch (err) {
    throw new Error(`the page never showed ${what} (${name} is ${JSON.stringify(await metric(page, name))})`, { cause: err })
  }
  return metric(page, name)
}

describe('the live dashboard in headless Chromium', { skip }, () => {
  let browser: BrowserContext | undefined
  let userDataDir: string | undefined
  const servers: http.Server[] = []
  after(async () => {
    await browser?.close()
    for (const server of servers) {
      server.closeAllConnections()
      server.close()
    }
    if (userDataDir !== undefined) await rm(userDataDir, { recursive: true, force: true })
  })

  it('follows the pool under load: in use, waiting, statements per second, a slow statement', async () => {
    const test = ctx as NonNullable<typeof ctx>
    await mkdir(OUTPUT, { recursive: true })
    userDataDir = await mkdtemp(path.join(tmpdir(), 'pgsteward-chromium-'))
    // A persistent context is how Playwright takes a fresh --user-data-dir of our choosing.
    browser = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1280, height: 1000 },
      colorScheme: 'light',
    })
    const db = test.open({ applicationName: 'classroom', pool: { max: 4, acquireTimeoutMs: 60_000 }, callSites: 'always' })
    await db.query(sql`CREATE TABLE IF NOT EXISTS lessons (id int PRIMARY KEY, title text)`)
    const dashboard = createDashboard(db, { basePath: '/dashboard', title: 'classroom', intervalMs: 250 })
    const server = http.createServer((req, res) => {
      if (!dashboard.handle(req, res)) res.writeHead(404).end()
    })
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/dashboard`

    const page = browser.pages()[0] ?? (await browser.newPage())
    const problems: string[] = []
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`)
    })
    await page.goto(url)
    await page.locator('#status[data-state="live"]').waitFor({ timeout: PAGE_TIMEOUT_MS })
    const figures: Record<string, string> = {}
    figures.usedAtRest = await shows(page, 'used', '0', 'no connection in use at rest')
    figures.waitingAtRest = await shows(page, 'waiting', '0', 'nobody waiting at rest')

    // A slow statement appears among the slowest, as text with its placeholder, never its value.
    await db.query(sql`SELECT pg_sleep(0.4), count(*) FROM lessons WHERE title <> ${'a value the page must not show'}`)
    await page.locator('#slowest code', { hasText: 'SELECT pg_sleep(0.4), count(*) FROM lessons WHERE title <> $1' }).waitFor({ timeout: PAGE_TIMEOUT_MS })

    // Every connection held, two more callers queued: the page shows 4 in use, 2 waiting, and who holds them.
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => (release = resolve))
    const holders = Array.from({ length: 4 }, () => db.session(() => gate))
    const waiters = [db.query(sql`SELECT 1`), db.query(sql`SELECT 2`)]
    figures.usedUnderLoad = await shows(page, 'used', '4', '4 connections in use')
    figures.waitingUnderLoad = await shows(page, 'waiting', '2', '2 callers waiting')
    await page.locator('#holders tr', { hasText: 'dashboard-browser.test.ts' }).first().waitFor({ state: 'attached', timeout: PAGE_TIMEOUT_MS })
    assert.equal(await page.locator('#holders tr').count(), 4)
    await page.screenshot({ path: path.join(OUTPUT, 'dashboard-held.png'), fullPage: true })
    release()
    await Promise.all(holders)
    await Promise.all(waiters)

    // Statements per second: a bounded burst of short statements, three callers at a time.
    const rate = shows(page, 'statementsPerSecond', { above: 0 }, 'statements per second above 0')
    let sent = 0
    let seen = false
    void rate.then(
      () => (seen = true),
      () => undefined,
    )
    await Promise.all(
      Array.from({ length: 3 }, async () => {
        while (!seen && sent < 3_000) {
          sent++
          await db.query(sql`SELECT id, title FROM lessons WHERE id = ${sent}`)
        }
      }),
    )
    figures.statementsPerSecond = await rate
    figures.usedAfterLoad = await shows(page, 'used', '0', 'connections back to 0 in use')
    figures.waitP99 = await metric(page, 'waitP99')
    // Durations count the wait for a connection, so the queued SELECT 1 and 2 may rank above it; it stays listed.
    const listed = await page.locator('#slowest code').allTextContents()
    figures.slowest = listed.join(' | ')
    assert.ok(listed.includes('SELECT pg_sleep(0.4), count(*) FROM lessons WHERE title <> $1'), figures.slowest)
    assert.ok(listed.includes('SELECT id, title FROM lessons WHERE id = $1'), 'the burst is listed as one statement')
    assert.doesNotMatch(await page.content(), /a value the page must not show/)
    await page.screenshot({ path: path.join(OUTPUT, 'dashboard.png'), fullPage: true })

    // On a phone, in a dark room: nothing wider than the screen, a dark background.
    const phone = await browser.newPage()
    await phone.setViewportSize({ width: 390, height: 844 })
    await phone.emulateMedia({ colorScheme: 'dark' })
    await phone.goto(url)
    await phone.locator('#status[data-state="live"]').waitFor({ timeout: PAGE_TIMEOUT_MS })
    await phone.locator('#slowest code').first().waitFor({ timeout: PAGE_TIMEOUT_MS })
    const layout = await phone.evaluate(() => {
      const page = globalThis as unknown as PageGlobals
      return {
        scrollWidth: page.document.documentElement.scrollWidth,
        width: page.innerWidth,
        background: page.getComputedStyle(page.document.body).backgroundColor,
      }
    })
    assert.ok(layout.scrollWidth <= layout.width, `no sideways scrolling on a phone: ${layout.scrollWidth} > ${layout.width}`)
    const [r, g, b] = (layout.background.match(/\d+/g) ?? []).map(Number) as [number, number, number]
    assert.ok(r + g + b < 150, `a dark background in dark mode, got ${layout.background}`)
    await phone.screenshot({ path: path.join(OUTPUT, 'dashboard-phone-dark.png'), fullPage: true })

    // Closing the dashboard ends the streams; the page says so.
    dashboard.close()
    await page.locator('#status[data-state="closed"]').waitFor({ timeout: PAGE_TIMEOUT_MS })
    assert.deepEqual(problems, [])
    await writeFile(path.join(OUTPUT, 'dashboard-results.json'), JSON.stringify({ url, statementsSent: sent, figures }, null, 2) + '\n')
  })
})
