/**
 * PostgreSQL's CancelRequest: a separate short connection carrying the backend's process id and
 * secret key, asking the server to interrupt whatever that backend is running. Sent as libpq
 * does: write the packet, then wait for the server to close the socket (it closes after passing
 * the request on), rather than half-closing first, which some poolers take for a broken client.
 */
import net from 'node:net'
import type { HostAddress } from '../options/connection-settings.js'

const CANCEL_REQUEST_CODE = 80877102

export interface CancelTarget extends HostAddress {
  processId: number
  secretKey: number
}

/** Send a CancelRequest; resolves when the server closed the socket or `timeoutMs` passed. Never rejects. */
export function sendCancelRequest(target: CancelTarget, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = target.host.startsWith('/') ? net.connect(`${target.host}/.s.PGSQL.${target.port}`) : net.connect(target.port, target.host)
    const done = (): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve()
    }
    const timer = setTimeout(done, timeoutMs)
    timer.unref()
    socket.on('connect', () => {
      const packet = Buffer.alloc(16)
      packet.writeInt32BE(16, 0)
      packet.writeInt32BE(CANCEL_REQUEST_CODE, 4)
      packet.writeInt32BE(target.processId, 8)
      packet.writeInt32BE(target.secretKey, 12)
      socket.write(packet)
    })
    // The server answers nothing: it closes the socket once it has passed the request on.
    socket.on('end', done)
    socket.on('close', done)
    socket.on('error', done)
  })
}
