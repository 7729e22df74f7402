/**
 * Production sign-in: an ID token (an OpenID Connect ID token, or any JWT) that the identity
 * provider signed is verified against the configured issuer, audience and keys, and the user's
 * name and groups are read from its claims. Only asymmetric signatures are accepted: a shared
 * secret would let anyone holding it mint identities, and `alg: none` is refused outright.
 */
import { readFile } from 'node:fs/promises'
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import type { OidcConfig } from '../config.ts'
import { unauthorized } from '../http-errors.ts'

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']
const MAX_NAME = 200
const MAX_GROUPS = 200
// eslint-disable-next-line no-control-regex -- control characters are exactly what it refuses
const PRINTABLE = /^[^\u0000-\u001f\u007f]+$/

export interface VerifiedIdentity {
  username: string
  groups: string[]
}

/** A claim by dotted path: `groups`, or `realm_access.roles` for a nested one. */
function claim(payload: JWTPayload, dotted: string): unknown {
  let value: unknown = payload
  for (const key of dotted.split('.')) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, key)) return undefined
    value = (value as Record<string, unknown>)[key]
  }
  return value
}

function isName(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_NAME && PRINTABLE.test(value)
}

export class IdTokenVerifier {
  readonly #config: OidcConfig
  readonly #keys: JWTVerifyGetKey

  private constructor(config: OidcConfig, keys: JWTVerifyGetKey) {
    this.#config = config
    this.#keys = keys
  }

  /** Reads a JWKS file now (a bad one stops the start-up); a JWKS URL is fetched when first needed, and cached. */
  static async create(config: OidcConfig): Promise<IdTokenVerifier> {
    if ('url' in config.jwks) return new IdTokenVerifier(config, createRemoteJWKSet(config.jwks.url, { timeoutDuration: 5_000 }))
    let keys: JSONWebKeySet
    try {
      keys = JSON.parse(await readFile(config.jwks.file, 'utf8')) as JSONWebKeySet
      if (!Array.isArray(keys.keys)) throw new Error('no "keys" array')
    } catch (err) {
      throw new Error(
        `OIDC_JWKS_FILE ${config.jwks.file} is not a readable JWKS (${err instanceof Error ? err.message : String(err)}): save the provider's jwks_uri document there.`,
      )
    }
    return new IdTokenVerifier(config, createLocalJWKSet(keys))
  }

  async verify(idToken: string): Promise<VerifiedIdentity> {
    let payload: JWTPayload
    try {
      ;({ payload } = await jwtVerify(idToken, this.#keys, {
        issuer: this.#config.issuer,
        audience: this.#config.audience,
        algorithms: ALGORITHMS,
        requiredClaims: ['exp'],
        clockTolerance: 30,
      }))
    } catch (err) {
      if (err instanceof errors.JOSEError && err.code === 'ERR_JWKS_TIMEOUT')
        throw unauthorized("The identity provider's keys could not be fetched in time; try again.")
      throw unauthorized('The ID token is not valid here: wrong signature, issuer or audience, or expired.')
    }
    const username = claim(payload, this.#config.usernameClaim)
    if (!isName(username))
      throw unauthorized(`The ID token has no usable \`${this.#config.usernameClaim}\` claim (a name of 1 to ${MAX_NAME} printable characters).`)
    const rawGroups = claim(payload, this.#config.groupsClaim) ?? []
    if (!Array.isArray(rawGroups) || rawGroups.length > MAX_GROUPS || !rawGroups.every(isName)) {
      throw unauthorized(`The ID token's \`${this.#config.groupsClaim}\` claim is not a list of at most ${MAX_GROUPS} group names.`)
    }
    return { username, groups: rawGroups }
  }
}
