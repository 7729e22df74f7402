/**
 * Keyset pagination for list endpoints: `?limit=` (1-100, default 50) and `?after=<id>` (the
 * `next` of the previous page). Pages by id, not by offset, so a page is one index range scan
 * however deep the client goes, and rows added meanwhile neither repeat nor go missing.
 */
import { Type, type Static } from '@sinclair/typebox'

export const MAX_PAGE_SIZE = 100
export const DEFAULT_PAGE_SIZE = 50

export const PageQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE }),
    after: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,14}$' })),
  },
  { additionalProperties: false },
)

export type Page = Static<typeof PageQuery>

/** The id lists start after: 0 (before every id) for the first page. */
export const pageStart = (page: Page): string => page.after ?? '0'

/**
 * Rows fetched with `LIMIT limit + 1`, in id order: the page itself, and the cursor of the next
 * page, or null when this is the last one.
 */
export function pageOf<T extends { id: string }>(rows: readonly T[], page: Page): { rows: T[]; next: number | null } {
  if (rows.length <= page.limit) return { rows: [...rows], next: null }
  const shown = rows.slice(0, page.limit)
  return { rows: shown, next: Number(shown[shown.length - 1]?.id) }
}
