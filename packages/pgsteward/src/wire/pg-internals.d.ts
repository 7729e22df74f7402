// node-postgres modules exported by the package (`pg/lib/*`) but not declared by its typings.
declare module 'pg/lib/utils.js' {
  /** Turns a parameter into what the wire carries: text, a Buffer, or null. */
  export function prepareValue(value: unknown): string | Buffer | null
}

declare module 'pg/lib/crypto/sasl.js' {
  export interface SaslSession {
    mechanism: string
    response: string
  }
  /** `stream` enables channel binding when it is a TLS socket and the server offers SCRAM-SHA-256-PLUS; false disables it. */
  export function startSession(mechanisms: string[], stream: unknown): SaslSession
  export function continueSession(session: SaslSession, password: string, serverData: string, stream: unknown): Promise<void>
  export function finalizeSession(session: SaslSession, serverData: string): void
}
