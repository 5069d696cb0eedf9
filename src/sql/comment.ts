/**
 * A line of a `--` comment in SQL that pgopt writes (an exported migration, an advised pack).
 * PostgreSQL ends such a comment at a carriage return or line feed, so a value with one inside (an
 * object name, a rollback statement written over two lines, a literal from a workload) would put
 * the rest of it on a live line, run by `psql -f` or `prisma migrate deploy`. Every line break, and
 * every other control or line-separating character an editor or another tool might break on, is
 * written as an escape instead; the value still reads, and the comment stays one line.
 */
// eslint-disable-next-line no-control-regex
const BREAKING = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/g;

export const commentLine = (text: string): string =>
  text.replace(BREAKING, (ch) => {
    const code = ch.charCodeAt(0);
    if (ch === '\n') return '\\n';
    if (ch === '\r') return '\\r';
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });

/** Text that a `--` comment line can hold as it is (commentLine would have to escape something in it). */
export const fitsCommentLine = (text: string): boolean => commentLine(text) === text;
