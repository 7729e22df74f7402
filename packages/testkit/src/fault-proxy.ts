/**
 * A TCP proxy between a client and a server that a test can break on purpose: stop forwarding
 * (a half-open peer), refuse new connections, or reset every connection. It is how tests show
 * what a network fault does to a pool without touching the server itself.
 */
import net from 'node:net'
import { stopAfterTest } from './stop-after-test.ts'

/** Options of {@link startFaultProxy}. */
export interface FaultProxyOptions {
  /**
   * Close the proxy in a node:test `after` hook of the test (or file) that started it. Start it
   * at the top level of the file (top-level await) or inside a test, not in a `before` hook:
   * node:test runs `after` hooks registered in a `before` hook as soon as that hook returns.
   * Turn off only outside node:test, and then stop it yourself. (Default: true)
   */
  stopAfterTest?: boolean
}

/** A running proxy; see {@link startFaultProxy}. */
export interface FaultProxy {
  /** The target URL with host and port replaced by the proxy's (same user, password, database, parameters). */
  readonly url: string
  /** The proxy's port on 127.0.0.1. */
  readonly port: number
  /** Client connections accepted and forwarded since the start (refused ones not counted). */
  readonly accepted: number
  /** Client connections refused while in `refuse()` mode. */
  readonly refused: number
  /** Connections open right now (client side still open). */
  readonly live: number
  /** Whether forwarding is stopped by `blackhole()`. */
  readonly blackholed: boolean
  /**
   * Stop forwarding bytes in both directions, and keep every socket open: no FIN, no RST, for
   * live connections and for new ones (which are accepted but not yet connected upstream). Both
   * peers see a silent partner, as when a network path drops packets. Bytes sent meanwhile wait in
   * the proxy and are delivered by `resume()`, as TCP retransmission would after a partition heals.
   * (The proxy's kernel still acknowledges them, so TCP keepalive on the client does not detect it.)
   */
  blackhole(): void
  /** Forward again, delivering what waited, and any close or reset that happened meanwhile. */
  resume(): void
  /**
   * Refuse new connections: each is reset (RST) as soon as it is accepted, so the client's connect
   * or first read fails with ECONNRESET. Live connections are left as they are. (The proxy keeps
   * listening, so its port stays its own for `accept()`; a stopped server would give ECONNREFUSED.)
   */
  refuse(): void
  /** Accept and forward new connections again (the default). */
  accept(): void
  /** Destroy every live connection with a TCP reset, on the client side and the server side. */
  resetAll(): void
  /** Stop listening and destroy every live connection. Safe to call more than once. */
  close(): Promise<void>
}

/** One direction of a connection: bytes read from `from` are written to `to`. */
interface Link {
  readonly from: net.Socket
  readonly to: net.Socket
  /** `to` has not taken the last chunk yet; `from` stays paused until it drains. */
  waitingForDrain: boolean
}

/** A client connection and its connection to the target (none yet if accepted while blackholed). */
interface Pair {
  readonly client: net.Socket
  links: Link[]
  /** Ends and resets that happened while blackholed, passed on by `resume()`. */
  deferred: Array<() => void>
}

const ignoreErrors = (socket: net.Socket): void => {
  socket.on('error', () => undefined)
}

/**
 * Start a proxy on a free 127.0.0.1 port that forwards to the host and port of `targetUrl`.
 *
 * @example
 * ```ts
 * const proxy = await startFaultProxy(databaseUrl)
 * const client = new pg.Client({ connectionString: proxy.url })
 * await client.connect()
 * proxy.blackhole() // the next query hangs: the server never hears of it
 * proxy.resume() // now it completes
 * proxy.resetAll() // the client gets ECONNRESET
 * ```
 */
export async function startFaultProxy(targetUrl: string, options: FaultProxyOptions = {}): Promise<FaultProxy> {
  const closeAfterTest = stopAfterTest(options.stopAfterTest)
  const target = new URL(targetUrl)
  const targetHost = target.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1'
  const targetPort = Number(target.port || 5432)
  const pairs = new Set<Pair>()
  let blackholed = false
  let refusing = false
  let accepted = 0
  let refused = 0
  let closed = false

  const connectUpstream = (pair: Pair): void => {
    const upstream = net.connect({ host: targetHost, port: targetPort, allowHalfOpen: true })
    pair.links = [link(pair, pair.client, upstream), link(pair, upstream, pair.client)]
  }

  const link = (pair: Pair, from: net.Socket, to: net.Socket): Link => {
    const state: Link = { from, to, waitingForDrain: false }
    from.on('data', (chunk: Buffer) => {
      if (to.destroyed) return
      if (!to.write(chunk)) {
        // Back-pressure: read no more until the other side has taken what it was given.
        state.waitingForDrain = true
        from.pause()
        to.once('drain', () => {
          state.waitingForDrain = false
          if (!blackholed) from.resume()
        })
      }
    })
    // While blackholed a paused socket emits no 'end' (it comes after the last byte is read), but
    // an error can arrive at any time: hold it back so that the partner sees nothing either.
    const passOn = (action: () => void): void => {
      if (blackholed) pair.deferred.push(action)
      else action()
    }
    from.on('end', () => {
      passOn(() => {
        if (!to.destroyed) to.end()
      })
    })
    from.on('error', (error: NodeJS.ErrnoException) => {
      // A reset (or a refused connect upstream) is passed on as a reset; any other failure as a plain close.
      passOn(() => {
        if (to.destroyed) return
        if (error.code === 'ECONNRESET' || error.code === 'ECONNREFUSED') to.resetAndDestroy()
        else to.destroy()
      })
    })
    from.on('close', () => {
      if (pair.links.every((l) => l.from.destroyed)) pairs.delete(pair)
    })
    return state
  }

  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    if (refusing || closed) {
      refused += refusing ? 1 : 0
      ignoreErrors(client)
      client.resetAndDestroy()
      return
    }
    accepted += 1
    const pair: Pair = { client, links: [], deferred: [] }
    pairs.add(pair)
    if (blackholed) {
      // The client's bytes wait in the proxy (pauseOnConnect); the server hears of nothing until resume().
      ignoreErrors(client)
      client.on('close', () => {
        if (pair.links.length === 0) pairs.delete(pair)
      })
      return
    }
    connectUpstream(pair)
    client.resume()
  })

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      const address = server.address()
      if (typeof address === 'object' && address !== null) resolve(address.port)
      else reject(new Error('fault proxy: no port'))
    })
  })
  // A forgotten proxy must not keep the test process alive; its connections keep it up while in use.
  server.unref()

  const proxyUrl = new URL(targetUrl)
  proxyUrl.hostname = '127.0.0.1'
  proxyUrl.port = String(port)

  const sockets = (pair: Pair): net.Socket[] => (pair.links.length > 0 ? pair.links.map((l) => l.from) : [pair.client])

  const proxy: FaultProxy = {
    url: proxyUrl.toString(),
    port,
    get accepted() {
      return accepted
    },
    get refused() {
      return refused
    },
    get live() {
      return [...pairs].filter((pair) => !pair.client.destroyed).length
    },
    get blackholed() {
      return blackholed
    },
    blackhole() {
      blackholed = true
      for (const pair of pairs) for (const socket of sockets(pair)) socket.pause()
    },
    resume() {
      if (!blackholed) return
      blackholed = false
      for (const pair of [...pairs]) {
        if (pair.links.length === 0) {
          if (pair.client.destroyed) {
            pairs.delete(pair)
            continue
          }
          connectUpstream(pair)
        }
        for (const l of pair.links) if (!l.from.destroyed && !l.waitingForDrain) l.from.resume()
        for (const action of pair.deferred.splice(0)) action()
      }
    },
    refuse() {
      refusing = true
    },
    accept() {
      refusing = false
    },
    resetAll() {
      for (const pair of [...pairs]) {
        pair.deferred.length = 0
        for (const socket of sockets(pair)) {
          ignoreErrors(socket)
          if (!socket.destroyed) socket.resetAndDestroy()
        }
        pairs.delete(pair)
      }
    },
    async close() {
      if (closed) return
      closed = true
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
      for (const pair of [...pairs]) {
        for (const socket of sockets(pair)) {
          ignoreErrors(socket)
          socket.destroy()
        }
        pairs.delete(pair)
      }
      await stopped
    },
  }
  closeAfterTest(() => proxy.close())
  return proxy
}
