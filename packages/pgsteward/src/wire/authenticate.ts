/**
 * Answering the server's authentication requests during start-up: cleartext, MD5 and
 * SCRAM-SHA-256 (through node-postgres's SASL implementation, so the mechanism is the one `pg`
 * users already rely on).
 */
import { createHash } from 'node:crypto'
import * as sasl from 'pg/lib/crypto/sasl.js'
import type { ProtocolSocket } from './protocol-socket.js'

export class AuthenticationError extends Error {
  override readonly name = 'AuthenticationError'
}

/** The MD5 answer: 'md5' + md5(md5(password + user) + salt). */
function md5Answer(user: string, password: string, salt: Buffer): string {
  const inner = createHash('md5')
    .update(password + user, 'utf8')
    .digest('hex')
  return (
    'md5' +
    createHash('md5')
      .update(Buffer.concat([Buffer.from(inner, 'utf8'), salt]))
      .digest('hex')
  )
}

/** One connection's authentication exchange. */
export class Authenticator {
  readonly #user: string
  readonly #password: () => Promise<string | undefined>
  #session: sasl.SaslSession | undefined
  #secret: string | undefined

  constructor(user: string, password: () => Promise<string | undefined>) {
    this.#user = user
    this.#password = password
  }

  async #requirePassword(): Promise<string> {
    this.#secret ??= await this.#password()
    if (typeof this.#secret !== 'string' || this.#secret === '') {
      throw new AuthenticationError('the server asked for a password and none was given: set password, PGPASSWORD, or the password in the connection string')
    }
    return this.#secret
  }

  /** Answer one authentication message; true when it was one. */
  async answer(message: Record<string, unknown> & { name: string }, socket: ProtocolSocket): Promise<boolean> {
    switch (message.name) {
      case 'authenticationOk':
        return true
      case 'authenticationCleartextPassword':
        socket.password(await this.#requirePassword())
        return true
      case 'authenticationMD5Password':
        socket.password(md5Answer(this.#user, await this.#requirePassword(), message.salt as Buffer))
        return true
      case 'authenticationSASL': {
        const password = await this.#requirePassword()
        this.#secret = password
        this.#session = sasl.startSession(message.mechanisms as string[], false)
        socket.sendSASLInitialResponseMessage(this.#session.mechanism, this.#session.response)
        return true
      }
      case 'authenticationSASLContinue': {
        if (this.#session === undefined) throw new AuthenticationError('the server continued a SASL exchange that was never started')
        await sasl.continueSession(this.#session, await this.#requirePassword(), message.data as string, false)
        socket.sendSCRAMClientFinalMessage(this.#session.response)
        return true
      }
      case 'authenticationSASLFinal': {
        if (this.#session === undefined) throw new AuthenticationError('the server finished a SASL exchange that was never started')
        sasl.finalizeSession(this.#session, message.data as string)
        this.#session = undefined
        return true
      }
      default:
        return false
    }
  }
}
