/**
 * The socket a connection talks through: node-postgres's `Connection` (its message writers,
 * which cursors, streams and COPY from pg-cursor, pg-query-stream and pg-copy-streams call
 * directly) with the opening done here instead: TCP or a Unix socket, then TLS negotiated as
 * libpq does (prefer falls back to plain text on the same socket), and every server message
 * handed straight to one function instead of through an event emitter.
 */
import net from 'node:net'
import tls from 'node:tls'
import pg from 'pg'
import { parse } from 'pg-protocol'
import type { BackendMessage } from 'pg-protocol/dist/messages.js'
import type { HostAddress, TlsPolicy } from '../options/connection-settings.js'

/** What node-postgres's Connection offers that this module and the submittables use. */
export interface PgConnectionApi {
  stream: net.Socket | tls.TLSSocket
  parsedStatements: Record<string, string>
  submittedNamedStatements?: Record<string, string>
  startup(config: Record<string, string>): void
  password(password: string): void
  sendSASLInitialResponseMessage(mechanism: string, initialResponse: string): void
  sendSCRAMClientFinalMessage(additionalData: string): void
  query(text: string): void
  parse(query: { text: string; name?: string; types?: number[] }): void
  bind(config: { portal?: string; statement?: string; values?: unknown[]; binary?: boolean; valueMapper?: unknown }): void
  execute(config: { portal?: string; rows?: number }): void
  describe(msg: { type: 'S' | 'P'; name?: string }): void
  close(msg: { type: 'S' | 'P'; name?: string }): void
  flush(): void
  sync(): void
  end(): void
  sendCopyFromChunk(chunk: Buffer): void
  endCopyFrom(): void
  sendCopyFail(message: string): void
  emit(event: string, ...args: unknown[]): boolean
}

const PgConnection = pg.Connection as unknown as new (config?: object) => PgConnectionApi

export type MessageSink = (message: BackendMessage & Record<string, unknown>) => void

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])

/** Why a connection could not be opened at the transport level, before any server message. */
export class TransportError extends Error {
  readonly code: string | undefined
  constructor(message: string, code?: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

export class ProtocolSocket extends PgConnection {
  #sink: MessageSink = () => undefined

  constructor() {
    super({})
  }

  /** node-postgres calls this to start reading messages: they go to the sink. */
  attachListeners(stream: NodeJS.ReadableStream): void {
    void parse(stream, (message) => this.#sink(message as BackendMessage & Record<string, unknown>))
  }

  /**
   * Connect to `address` and negotiate TLS as `tls` says, within `signal`. Resolves once the
   * startup message may be written; `onClose` hears every later socket error or close.
   */
  async open(
    address: HostAddress,
    policy: TlsPolicy,
    tlsAttempt: 'plain' | 'tls-or-plain' | 'tls',
    keepAliveInitialDelayMs: number,
    signal: AbortSignal,
    sink: MessageSink,
    onClose: (err: Error | undefined) => void,
  ): Promise<void> {
    this.#sink = sink
    const socket = address.host.startsWith('/')
      ? net.connect(`${address.host}/.s.PGSQL.${address.port}`)
      : net.connect({ host: address.host, port: address.port })
    this.stream = socket
    const abort = (): void => {
      socket.destroy(new TransportError('connection timeout: the server did not answer in time', 'ETIMEDOUT'))
    }
    signal.addEventListener('abort', abort, { once: true })
    try {
      await once(socket, 'connect')
      socket.setNoDelay(true)
      socket.setKeepAlive(true, keepAliveInitialDelayMs)
      let stream: net.Socket | tls.TLSSocket = socket
      if (tlsAttempt !== 'plain') {
        socket.write(SSL_REQUEST)
        const answer = await firstByte(socket)
        if (answer === 'S') {
          const options: tls.ConnectionOptions = { ...policy.options, socket }
          if ('key' in policy.options) options.key = policy.options.key
          if (net.isIP(address.host) === 0 && !address.host.startsWith('/')) options.servername = address.host
          const secure = tls.connect(options)
          await once(secure, 'secureConnect')
          stream = secure
        } else if (answer === 'N') {
          if (tlsAttempt === 'tls') throw new TransportError('The server does not support SSL connections', 'ESSLREFUSED')
        } else {
          throw new TransportError('There was an error establishing an SSL connection', 'ESSLFAILED')
        }
      }
      this.stream = stream
      stream.on('error', (err: Error) => onClose(err))
      stream.on('close', () => onClose(undefined))
      this.attachListeners(stream)
    } catch (err) {
      socket.destroy()
      throw err
    } finally {
      signal.removeEventListener('abort', abort)
    }
  }
}

function once(emitter: net.Socket | tls.TLSSocket, event: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      emitter.off(event, onEvent)
      emitter.off('close', onClosed)
      reject(err)
    }
    const onClosed = (): void => {
      emitter.off(event, onEvent)
      emitter.off('error', onError)
      reject(new TransportError('the server closed the connection while it was being opened', 'ECONNRESET'))
    }
    const onEvent = (): void => {
      emitter.off('error', onError)
      emitter.off('close', onClosed)
      resolve()
    }
    emitter.once(event, onEvent)
    emitter.once('error', onError)
    emitter.once('close', onClosed)
  })
}

/** The server's one-byte answer to SSLRequest. */
function firstByte(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      cleanup()
      if (chunk.length > 1) socket.unshift(chunk.subarray(1))
      resolve(String.fromCharCode(chunk[0] ?? 0))
    }
    const onError = (err: Error): void => {
      cleanup()
      reject(err)
    }
    const onClose = (): void => {
      cleanup()
      reject(new TransportError('the server closed the connection during TLS negotiation', 'ECONNRESET'))
    }
    const cleanup = (): void => {
      socket.off('data', onData)
      socket.off('error', onError)
      socket.off('close', onClose)
    }
    socket.on('data', onData)
    socket.once('error', onError)
    socket.once('close', onClose)
  })
}
