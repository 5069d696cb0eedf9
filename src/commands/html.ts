import { writeFileSync } from 'node:fs';
import { PgoptError } from '../errors.js';
import { htmlReport, type ReportInput } from '../report/html.js';
import type { CommandContext } from './options.js';

/** --html <file>: the comparison as a self-contained page. */
export async function writeHtmlReport(path: string, input: ReportInput, ctx: CommandContext): Promise<void> {
  writeHtmlPage(path, await htmlReport(input), ctx);
}

/** Write a page for --html, one error for every way the file cannot be written. */
export function writeHtmlPage(path: string, html: string, ctx: CommandContext): void {
  try {
    writeFileSync(path, html);
  } catch (err) {
    throw new PgoptError(
      'input',
      `--html ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}: the report was not written`,
    );
  }
  ctx.reporter.info(`report written to ${path} (${Math.round(html.length / 1024)} kB)`);
}
