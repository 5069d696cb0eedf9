import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/pgopt.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the real CLI (bin/pgopt.js on the built dist/) as a user would. */
export function runCli(
  args: string[],
  opts: { env?: Record<string, string | undefined>; cwd?: string; onSpawn?: (p: ChildProcess) => void } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const env: Record<string, string | undefined> = {
      ...process.env,
      NO_COLOR: '1',
      DATABASE_URL: undefined,
      PGPASSWORD: undefined,
      ...opts.env,
    };
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
    const child = spawn(process.execPath, [BIN, ...args], { env: env as NodeJS.ProcessEnv, cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    opts.onSpawn?.(child);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
