/**
 * The API reference's gate: TypeDoc reads the public surface exactly as `npm run docs` does
 * (typedoc.config.js: every entry point in `exports`) and its validation must pass with warnings
 * as errors: every public symbol documented, every type a public signature mentions exported (or
 * named as intentionally not), every link resolved. On top of TypeDoc's own rules, two of ours:
 * every optional option says its default as "(Default: ...)", and every function, method, value
 * and class a user calls carries a ```ts example.
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import { before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  Application,
  Comment,
  DeclarationReflection,
  Logger,
  LogLevel,
  PackageJsonReader,
  ReflectionKind,
  TSConfigReader,
  TypeDocReader,
  type ProjectReflection,
  type Reflection,
} from 'typedoc'

const PACKAGE_DIR = fileURLToPath(new URL('../..', import.meta.url))
const SOURCES = path.join(PACKAGE_DIR, 'src') + path.sep

/** Keeps what TypeDoc reports, so a failure lists every finding at once. */
class CollectingLogger extends Logger {
  readonly findings: string[] = []
  override log(message: string, level: LogLevel): void {
    if (level >= LogLevel.Warn) this.findings.push(message)
  }
}

let project: ProjectReflection
let logger: CollectingLogger

before(
  async () => {
    // Explicit readers: the default ones would also read this process's command line.
    const app = await Application.bootstrapWithPlugins({ options: path.join(PACKAGE_DIR, 'typedoc.config.js') }, [
      new TypeDocReader(),
      new PackageJsonReader(),
      new TSConfigReader(),
    ])
    logger = new CollectingLogger()
    app.logger = logger
    const converted = await app.convert()
    assert.ok(converted !== undefined, `TypeDoc could not convert the entry points:\n${logger.findings.join('\n')}`)
    project = converted
    app.validate(project)
  },
  { timeout: 110_000 },
)

/** Declared in this package's sources (not inherited from pg or Node's EventEmitter). */
function ours(reflection: Reflection): boolean {
  const sources = reflection instanceof DeclarationReflection ? reflection.sources : undefined
  return sources?.some((s) => s.fullFileName.startsWith(SOURCES)) ?? false
}

/** The comments TypeDoc shows for a reflection: its own, and its call or get signatures'. */
function comments(reflection: DeclarationReflection): Comment[] {
  const signatures = [...(reflection.signatures ?? []), ...(reflection.getSignature ? [reflection.getSignature] : [])]
  return [reflection.comment, ...signatures.map((s) => s.comment)].filter((c): c is Comment => c !== undefined)
}

function text(comment: Comment): string {
  return [Comment.combineDisplayParts(comment.summary), ...comment.blockTags.map((tag) => Comment.combineDisplayParts(tag.content))].join('\n')
}

function hasTsExample(reflection: DeclarationReflection): boolean {
  return comments(reflection).some((c) => c.blockTags.some((tag) => tag.tag === '@example' && Comment.combineDisplayParts(tag.content).includes('```ts')))
}

/** An option: an optional property of an `...Options` interface, or of an inline `options` parameter type. */
function isOption(reflection: DeclarationReflection): boolean {
  if (!reflection.flags.isOptional) return false
  const owner = reflection.parent
  if (owner?.kindOf(ReflectionKind.Interface)) return owner.name.endsWith('Options')
  return owner?.kindOf(ReflectionKind.TypeLiteral) === true && owner.parent?.kindOf(ReflectionKind.Parameter) === true && owner.parent.name === 'options'
}

function all(kind: ReflectionKind): DeclarationReflection[] {
  return project.getReflectionsByKind(kind).filter((r): r is DeclarationReflection => r instanceof DeclarationReflection && ours(r))
}

describe('the API reference', () => {
  it('documents every public symbol; TypeDoc validation finds nothing', () => {
    assert.deepEqual(logger.findings, [])
  })

  it('states the default of every option as "(Default: ...)"', () => {
    const options = all(ReflectionKind.Property).filter(isOption)
    assert.ok(options.length > 40, `found only ${options.length} options: the check no longer sees them`)
    const missing = options.filter((o) => !comments(o).some((c) => text(c).includes('(Default: ')))
    assert.deepEqual(
      missing.map((o) => o.getFullName()),
      [],
    )
  })

  it('gives every function, method, value and class a user calls a ```ts example', () => {
    const entries = [
      ...all(ReflectionKind.Function),
      ...all(ReflectionKind.Variable),
      ...all(ReflectionKind.Method),
      // Error classes are thrown at users, not called by them.
      ...all(ReflectionKind.Class).filter((c) => !c.name.endsWith('Error')),
    ]
    assert.ok(entries.some((e) => e.name === 'createDatabase') && entries.some((e) => e.name === 'transaction'), 'the check sees the entry points')
    assert.deepEqual(
      entries.filter((e) => !hasTsExample(e)).map((e) => e.getFullName()),
      [],
    )
  })
})
