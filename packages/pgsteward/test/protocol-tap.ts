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
  /**
   * Since the last `reset()`, in the order the relay saw them: `sync` for each Sync or simple Query
   * a client sent (the end of a batch), `ready` for each ReadyForQuery the server sent. Batches sent
   * before the first answer came back were pipelined.
   */
  readonly sequence: ('sync' | 'ready')[]
  reset(): void
  /**
   * The next time a client sends a simple query with exactly this text, pass it to the server,
   * then close the server side after it and cut the client off: the statement left, its answer
   * never comes back.
   */
  cutAfterQuery(text: string): void
  /** Stop passing bytes either way, sockets left open: a peer gone without FIN or RST (half-open). */
  blackhole(): void
}

export async function protocolTap(serverUrl: string): Promise<ProtocolTap> {
  const target = new URL(serverUrl)
  const statuses: string[] = []
  const sequence: ('sync' | 'ready')[] = []
  const sockets = new Set<net.Socket>()
  let cutOn: string | undefined
  let dropping = false
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname)
    sockets.add(client).add(upstream)
    let pending = Buffer.alloc(0)
    let started = false
    let sent = Buffer.alloc(0)
    let sawStartup = false
    client.on('data', (chunk: Buffer) => {
      if (dropping) return
      sent = Buffer.concat([sent, chunk])
      // The startup packet (and an SSLRequest) has no type byte; everything after it does.
      for (;;) {
        if (!sawStartup) {
          if (sent.length < 4) break
          const length = sent.readInt32BE(0)
          if (sent.length < length) break
          const isSslRequest = length === 8 && sent.readInt32BE(4) === 80877103
          upstream.write(sent.subarray(0, length))
          sent = sent.subarray(length)
          if (!isSslRequest) sawStartup = true
          continue
        }
        if (sent.length < 5) break
        const length = sent.readInt32BE(1)
        if (sent.length < 1 + length) break
        const message = sent.subarray(0, 1 + length)
        sent = sent.subarray(1 + length)
        upstream.write(message)
        if (message[0] === 0x53 || message[0] === 0x51) sequence.push('sync')
        const text = message[0] === 0x51 ? message.subarray(5, message.length - 1).toString() : undefined
        if (text !== undefined && text === cutOn) {
          cutOn = undefined
          upstream.end()
          client.destroy()
          return
        }
      }
    })
    upstream.on('data', (chunk: Buffer) => {
      if (dropping) return
      client.write(chunk)
      pending = Buffer.concat([pending, chunk])
      // Typed messages: a type byte and a 4-byte length that counts itself.
      while (pending.length >= 5) {
        const length = pending.readInt32BE(1)
        if (pending.length < 1 + length) break
        const type = String.fromCharCode(pending[0] as number)
        if (type === 'Z') {
          if (started) {
            statuses.push(String.fromCharCode(pending[5] as number))
            sequence.push('ready')
          }
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
    sequence,
    reset: () => {
      statuses.length = 0
      sequence.length = 0
    },
    cutAfterQuery: (text) => {
      cutOn = text
    },
    blackhole: () => {
      dropping = true
    },
  }
}
