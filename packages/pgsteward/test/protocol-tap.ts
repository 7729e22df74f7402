/**
 * A TCP relay between a test's database and the server that reads the server's side of the
 * protocol, so a test can count round trips (one ReadyForQuery each) and read the transaction
 * status the server reported, without reaching into the library.
 */
import net from 'node:net'
import { after } from 'node:test'

export interface ProtocolTap {
  /** The server URL with host and port replaced by the relay's. */
  url: string
  /** Status bytes of every ReadyForQuery the server sent since the last `reset()`, in order. */
  readonly statuses: string[]
  reset(): void
}

export async function protocolTap(serverUrl: string): Promise<ProtocolTap> {
  const target = new URL(serverUrl)
  const statuses: string[] = []
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname)
    sockets.add(client).add(upstream)
    let pending = Buffer.alloc(0)
    let started = false
    client.pipe(upstream)
    upstream.on('data', (chunk: Buffer) => {
      client.write(chunk)
      pending = Buffer.concat([pending, chunk])
      // Typed messages: a type byte and a 4-byte length that counts itself.
      while (pending.length >= 5) {
        const length = pending.readInt32BE(1)
        if (pending.length < 1 + length) break
        const type = String.fromCharCode(pending[0] as number)
        if (type === 'Z') {
          if (started) statuses.push(String.fromCharCode(pending[5] as number))
          started = true // the first ReadyForQuery ends start-up, not a statement
        }
        pending = pending.subarray(1 + length)
      }
    })
    const close = (): void => {
      client.destroy()
      upstream.destroy()
    }
    client.on('close', close).on('error', close)
    upstream.on('close', close).on('error', close)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  after(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  const url = new URL(serverUrl)
  url.hostname = '127.0.0.1'
  url.port = String(port)
  return {
    url: url.toString(),
    statuses,
    reset: () => {
      statuses.length = 0
    },
  }
}
