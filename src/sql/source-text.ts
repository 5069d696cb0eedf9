import { scanSync } from 'libpg-query';

/**
 * libpg-query reports byte offsets into UTF-8; packs carry non-ASCII comments (the first
 * user's are in Chinese), so every slice and line number goes through the byte buffer.
 */
export class SourceText {
  readonly bytes: Buffer;
  private lineStarts: number[] = [0];

  constructor(
    readonly file: string,
    readonly text: string,
  ) {
    this.bytes = Buffer.from(text, 'utf8');
    for (let i = 0; i < this.bytes.length; i++) if (this.bytes[i] === 0x0a) this.lineStarts.push(i + 1);
  }

  slice(start: number, end: number): string {
    return this.bytes.subarray(start, end).toString('utf8');
  }

  /** 1-based line and column (in characters) of a byte offset. */
  position(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    const column = this.slice(this.lineStarts[lo], offset).length + 1;
    return { line: lo + 1, column };
  }

  /** Location of a character (not byte) offset: libpg-query's syntax-error cursor counts characters. */
  locationOfChar(charOffset: number) {
    return this.location(Buffer.byteLength(this.text.slice(0, charOffset)));
  }

  location(offset: number) {
    return { file: this.file, ...this.position(offset) };
  }
}

export interface Token {
  start: number;
  end: number;
  text: string;
  tokenName: string;
  keywordName: string;
}

export const isComment = (t: Token) => t.tokenName === 'SQL_COMMENT' || t.tokenName === 'C_COMMENT';

/**
 * libpg-query's scanner writes token text into JSON without escaping control characters other
 * than tab, newline and carriage return, so a quoted name holding one (ESC, say) breaks it. They
 * are lexed as spaces (one byte for one byte, same token boundaries: inside quotes and comments
 * both are just characters, and outside them both are whitespace), and each token's text is cut
 * from the original by its offsets.
 */
// eslint-disable-next-line no-control-regex
const UNESCAPED_BY_SCANNER = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g;

/** Tokens of `sql` with byte offsets relative to it, from PostgreSQL's own lexer. */
export function scanTokens(sql: string): Token[] {
  // The scanner fails on text with no token at all (it returns malformed JSON).
  if (!sql.trim()) return [];
  const lexable = sql.replace(UNESCAPED_BY_SCANNER, ' ');
  const bytes = lexable === sql ? null : Buffer.from(sql, 'utf8');
  return (scanSync(lexable).tokens as Token[]).map((t) => ({
    start: t.start,
    end: t.end,
    text: bytes ? bytes.subarray(t.start, t.end).toString('utf8') : t.text,
    tokenName: t.tokenName,
    keywordName: t.keywordName,
  }));
}
