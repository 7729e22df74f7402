/**
 * Decides from a statement's command tag (and, for the few tags that can hide it, its text)
 * whether it changed session state that must not leak to the next borrower: settings, LISTEN,
 * prepared statements, cursors, temporary tables, session advisory locks. A clean return then
 * costs no round trip; only a changed session pays for a reset.
 */

/**
 * DO counts as a change whatever its text: its PL/pgSQL can SET, LISTEN or PREPARE out of sight
 * (through EXECUTE of a built string), and anonymous blocks are rare enough on hot paths that a
 * reset after each costs little. Functions and procedures that change settings without saying
 * so in the calling text are not detected: give them a `SET` clause, which PostgreSQL undoes
 * when they return.
 */
const SESSION_TAGS = new Set(['SET', 'RESET', 'LISTEN', 'PREPARE', 'DECLARE', 'LOAD', 'DO'])
/** Tags whose statements may or may not touch session state, depending on their text. */
const TEXT_CHECKED_TAGS = new Set(['SELECT', 'CREATE', 'CALL'])
const TRANSACTION_LOCAL_SET = /^\s*set\s+(local|transaction|constraints)\b/i
const SESSION_TEXT = /\btemp(orary)?\b|pg_(try_)?advisory_lock|set_config|\bset\s+(session\s+)?role\b/i

export function changesSession(command: string | null | undefined, text: string): boolean {
  if (!command) return false
  if (SESSION_TAGS.has(command)) {
    // SET LOCAL / SET TRANSACTION end with the transaction: nothing survives the return.
    return !(command === 'SET' && TRANSACTION_LOCAL_SET.test(text))
  }
  return TEXT_CHECKED_TAGS.has(command) && SESSION_TEXT.test(text)
}
