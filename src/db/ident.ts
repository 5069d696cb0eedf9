import pg from 'pg';

/** An identifier as SQL text, always quoted: pg's own escaping ("a""b"), so there is one rule. */
export const quoteIdent = (name: string): string => pg.escapeIdentifier(name);
/** A string as an SQL literal: pg's own escaping, so there is one rule. */
export const quoteLiteral = (value: string): string => pg.escapeLiteral(value);
export const qualify = (schema: string, name: string): string => `${quoteIdent(schema)}.${quoteIdent(name)}`;

/** An identifier for people: quoted only where SQL would need quotes ("workflowId", not app). */
export const displayIdent = (s: string): string => (/^[a-z_][a-z0-9_$]*$/.test(s) ? s : quoteIdent(s));
/** schema.name for people. */
export const displayName = (schema: string, name: string): string => `${displayIdent(schema)}.${displayIdent(name)}`;
