import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { BIN, runCli } from '../helpers/cli.js';
import { loadSmallSchema, SMALL_PACK, writePack } from '../helpers/packs.js';

/**
 * What a user sees at a real terminal: the CLI runs under script(1), which gives it a
 * pseudo-terminal, and everything written to that terminal is read back.
 */
function runInTerminal(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; screen: string }> {
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve) => {
    const child = spawn('script', ['-qec', `stty cols 120 rows 40; ${quoted}`, '/dev/null'], {
      // An interactive user's terminal: no CI variable (with it, progress is printed as plain lines).
      env: {
        ...process.env,
        NO_COLOR: undefined,
        FORCE_COLOR: undefined,
        CI: undefined,
        TERM: 'xterm-256color',
        ...env,
      } as NodeJS.ProcessEnv,
    });
    let screen = '';
    child.stdout.on('data', (d) => (screen += d));
    child.on('close', (code) => resolve({ code, screen }));
  });
}

const SPINNER = /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/;
// eslint-disable-next-line no-control-regex -- an ANSI colour escape is what this test looks for
const COLOR = /\x1b\[[0-9;]*m/;

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('tty');
  await loadSmallSchema(db, 50000);
});
afterAll(async () => db?.drop());

describe('at a terminal', () => {
  const pack = writePack('tty', SMALL_PACK);

  it('apply shows a spinner and colour at a terminal, neither when its output is piped', async () => {
    const tty = await runInTerminal(['apply', pack, '--db', db.url]);
    expect(tty.code, tty.screen).toBe(0);
    expect(tty.screen).toMatch(SPINNER);
    expect(tty.screen).toMatch(COLOR);
    expect(tty.screen).toContain('pack tty applied: 6 object(s) built');
    expect((await runCli(['rollback', pack, '--db', db.url])).code).toBe(0);
    // A terminal in a CI job (CI set) gets plain progress lines, not an animation.
    const ci = await runInTerminal(['apply', pack, '--db', db.url], { CI: 'true' });
    expect(ci.code, ci.screen).toBe(0);
    expect(ci.screen).not.toMatch(SPINNER);
    expect((await runCli(['rollback', pack, '--db', db.url])).code).toBe(0);
    // The same run with stdout and stderr piped (as in CI): plain lines only.
    const piped = await runCli(['apply', pack, '--db', db.url], { env: { NO_COLOR: undefined } });
    expect(piped.code).toBe(0);
    expect(piped.stderr + piped.stdout).not.toMatch(SPINNER);
    expect(piped.stderr + piped.stdout).not.toContain('\x1b[');
    expect((await runCli(['rollback', pack, '--db', db.url])).code).toBe(0);
  });

  it('NO_COLOR and --no-color turn colour off at a terminal; --json writes one document and no spinner', async () => {
    await runCli(['rollback', pack, '--db', db.url]); // whatever the test before left
    for (const [args, env] of [
      [['verify', pack, '--db', db.url], { NO_COLOR: '1' }],
      [['verify', pack, '--db', db.url, '--no-color'], {}],
    ] as const) {
      const r = await runInTerminal([...args], env);
      expect(r.code).toBe(1); // nothing applied: verify fails, and says so in plain text
      expect(r.screen).toContain('not applied');
      expect(r.screen).not.toMatch(COLOR);
    }
    const json = await runInTerminal(['status', '--db', db.url, '--json']);
    expect(json.code).toBe(0);
    expect(json.screen).not.toMatch(SPINNER);
    expect(() => JSON.parse(json.screen.replace(/\r/g, ''))).not.toThrow();
  });
});
