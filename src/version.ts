import { readFileSync } from 'node:fs';

/** Read once from package.json so the registry records the exact version that acted. */
export const PGOPT_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;
