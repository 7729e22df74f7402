// node-postgres's value serialiser, exported by the package (`pg/lib/*`) but not by its typings.
declare module 'pg/lib/utils.js' {
  /** Turns a parameter into what the wire carries: text, a Buffer, or null. */
  export function prepareValue(value: unknown): string | Buffer | null
}
