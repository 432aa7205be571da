// The API speaks snake_case; this SDK speaks camelCase. Keys are converted both
// ways, except inside `metadata`: those are the caller's own keys and go through as is.

const OPAQUE = new Set(["metadata"]);

export const toSnake = (key: string): string => key.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());
export const toCamel = (key: string): string => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function convert(value: unknown, rename: (key: string) => string): unknown {
  if (Array.isArray(value)) return value.map((v) => convert(v, rename));
  if (value instanceof Date) return value.toISOString();
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue; // undefined means "not sent": the server's default applies
    const name = rename(key);
    out[name] = OPAQUE.has(name) || OPAQUE.has(key) ? plain(v) : convert(v, rename);
  }
  return out;
}

// Metadata is passed through untouched, but Dates in it still become RFC 3339 strings.
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value ?? null));
}

export const snakeKeys = (value: unknown): unknown => convert(value, toSnake);
export const camelKeys = (value: unknown): unknown => convert(value, toCamel);
