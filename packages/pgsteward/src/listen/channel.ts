/** Channel names and payloads of LISTEN/NOTIFY: checked before anything is sent, quoted in one place. */
import { MisuseError, NotificationPayloadError } from '../errors/error-classes.js'

/** PostgreSQL's identifier limit (NAMEDATALEN - 1): a longer channel name would be truncated by LISTEN and refused by pg_notify. */
const MAX_CHANNEL_BYTES = 63

/** Check a channel name as `db.listen` and `db.notify` take it: any non-empty string of at most 63 bytes without NUL. */
export function checkChannel(channel: unknown, where: string): asserts channel is string {
  if (typeof channel !== 'string' || channel.length === 0) {
    throw new MisuseError(`${where} needs a channel name: a non-empty string such as 'jobs' (got ${channel === '' ? 'an empty string' : typeof channel}).`)
  }
  if (channel.includes('\0')) throw new MisuseError(`${where}: a channel name cannot contain a NUL character; remove it.`)
  const bytes = Buffer.byteLength(channel)
  if (bytes > MAX_CHANNEL_BYTES) {
    throw new MisuseError(
      `${where}: the channel name is ${bytes} bytes long; PostgreSQL channel names are identifiers of at most ${MAX_CHANNEL_BYTES} bytes. Use a shorter name.`,
    )
  }
}

/** The channel as a quoted identifier: exactly the name given, case and all. */
export function quoted(channel: string): string {
  return `"${channel.replaceAll('"', '""')}"`
}

/** PostgreSQL refuses a payload of 8000 bytes or more (in the server's encoding, UTF8 here): "payload string too long". */
const MAX_PAYLOAD_BYTES = 7_999

/** The payload to send ('' for none); a payload the server would refuse is refused here, before it can fail a transaction. */
export function checkPayload(payload: unknown, where: string): string {
  if (payload === undefined) return ''
  if (typeof payload !== 'string') {
    throw new MisuseError(
      `${where}: the payload must be a string (got ${payload === null ? 'null' : typeof payload}); send JSON.stringify(value), or better an id the listener reads.`,
    )
  }
  const bytes = Buffer.byteLength(payload)
  if (bytes > MAX_PAYLOAD_BYTES) throw new NotificationPayloadError(bytes)
  return payload
}
