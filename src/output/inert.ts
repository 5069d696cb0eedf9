/**
 * Text from the database (object names, statements, server messages) is printed inert: a name
 * can hold any character, and an escape sequence printed raw can rewrite the terminal (move the
 * cursor, hide a line, set the title or the clipboard). Control characters — C0 but newline and
 * tab, DEL, C1 — and the Unicode bidirectional overrides are shown as `\xNN` / `\uNNNN`.
 * JSON output is not passed through here: JSON escapes them itself and must stay exact.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const escapeChar = (ch: string): string => {
  const code = ch.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
};

export const inert = (text: string): string => text.replace(UNSAFE, escapeChar);

/** A copy of a result with every string in it made inert, for renderers (prototypes kept). */
export function inertDeep<T>(value: T, seen = new WeakMap<object, unknown>()): T {
  if (typeof value === 'string') return inert(value) as T;
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date || value instanceof Map || value instanceof Set) return value;
  if (seen.has(value)) return seen.get(value) as T;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    seen.set(value, out);
    for (const v of value) out.push(inertDeep(v, seen));
    return out as T;
  }
  const out = Object.create(Object.getPrototypeOf(value)) as Record<string, unknown>;
  seen.set(value, out);
  for (const key of Object.getOwnPropertyNames(value)) {
    const d = Object.getOwnPropertyDescriptor(value, key)!;
    if ('value' in d) d.value = inertDeep(d.value, seen);
    Object.defineProperty(out, key, d);
  }
  return out as T;
}
