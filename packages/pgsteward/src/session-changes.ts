/**
 * Decides from a statement's command tag (and, for the few tags that can hide it, its text)
 * whether it changed session state that must not leak to the next borrower: settings, LISTEN,
 * prepared statements, cursors, temporary tables, session advisory locks. A clean return then
 * costs no round trip; only a changed session pays for a reset.
 */

const SESSION_TAGS = new Set(['SET', 'RESET', 'LISTEN', 'PREPARE', 'DECLARE', 'LOAD'])
/** Tags whose statements may or may not touch session state, depending on their text. */
const TEXT_CHECKED_TAGS = new Set(['SELECT', 'CREATE', 'DO', 'CALL'])
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
