import { Command, CommanderError, Option } from 'commander';
import { asPgoptError, EXIT_CODES, formatLocation, PgoptError } from './errors.js';
import { translatePgError } from './db/pg-errors.js';
import { Reporter } from './output/reporter.js';
import { PGOPT_VERSION } from './version.js';
import { packFlags } from './commands/pack-flags.js';
import { makeContext, reportFlags, runFlags, type CommandContext, type GlobalOptions } from './commands/options.js';

/** Each command's module loads on first use, so `pgopt --version` stays fast. */
const commands = {
  plan: () => import('./commands/plan.js'),
  apply: () => import('./commands/apply.js'),
  verify: () => import('./commands/verify.js'),
  rollback: () => import('./commands/rollback.js'),
  status: () => import('./commands/status.js'),
  fixtures: () => import('./commands/fixtures.js'),
  bench: () => import('./commands/bench.js'),
  compare: () => import('./commands/compare.js'),
  demo: () => import('./commands/demo.js'),
  refresh: () => import('./commands/refresh.js'),
  lint: () => import('./commands/lint.js'),
  advise: () => import('./commands/advise.js'),
  capture: () => import('./commands/capture.js'),
  hygiene: () => import('./commands/hygiene.js'),
  impact: () => import('./commands/impact.js'),
  export: () => import('./commands/export.js'),
};

function buildProgram(run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): Command {
  const program = new Command('pgopt')
    .description('Make PostgreSQL measurably faster, safely: apply, verify, roll back and benchmark optimization packs.')
    .version(PGOPT_VERSION, '-V, --version')
    .option('--db <url>', 'database URL (else DIRECT_URL, then DATABASE_URL, from the environment or ./.env, then PGHOST/PGUSER/…)')
    .option('--direct-url <url>', 'a URL that bypasses any connection pooler (Prisma directUrl); wins over --db')
    .option('--json', 'write exactly one JSON document to stdout')
    .option('--no-color', 'no colors (also NO_COLOR)')
    .option('--connect-timeout <duration>', 'give up connecting after this long', '5s')
    .option('--verbose', 'on an error, also print its stack and causes (passwords scrubbed like all output)')
    .exitOverride();

  packFlags(program.command('plan <pack>').description('show what apply would do: statements, objects, locks, states'))
    .option('--no-concurrently', 'plan non-concurrent builds')
    .option('--replace-changed', 'plan rebuilding objects changed since applied')
    .action((pack, flags) => run(async (ctx) => (await commands.plan()).plan(pack, flags, ctx)));

  const apply = packFlags(program.command('apply <pack>').description('apply what is pending in a pack'));
  for (const o of runFlags()) apply.addOption(o);
  apply
    .option('--no-analyze', 'skip ANALYZE of the tables that gained objects')
    .option('--jobs <n>', 'connections building side by side (objects on different tables)', '2')
    .option('--replace-changed', 'drop and rebuild objects whose pack statement changed since they were applied')
    .action((pack, flags) => run(async (ctx) => (await commands.apply()).apply(pack, flags, ctx)));

  packFlags(program.command('lint <pack>').description('check a pack against rules a careful DBA follows (errors exit 1)'))
    .option('--strict', 'warnings exit 1 too')
    .action((pack, flags) => run(async (ctx) => (await commands.lint()).lint(pack, flags, ctx)));

  packFlags(
    program.command('verify <pack>').description('check every object of a pack against the catalog (exit 1 on any problem)'),
  ).action((pack, flags) => run(async (ctx) => (await commands.verify()).verify(pack, flags, ctx)));

  const rollback = program
    .command('rollback <pack>')
    .description('drop what pgopt created for a pack (a pack path or a pack name)')
    .option('--name <name>', 'pack name (default: the file or directory name)')
    .option('--only <object>', 'roll back one object (name or schema.name)');
  for (const o of runFlags()) rollback.addOption(o);
  rollback.action((pack, flags) => run(async (ctx) => (await commands.rollback()).rollback(pack, flags, ctx)));

  const refresh = program
    .command('refresh [targets...]')
    .description('refresh materialized views: of a pack (path or name), named views, or (no argument) every view a pack owns');
  for (const o of runFlags()) if (o.long !== '--no-concurrently') refresh.addOption(o);
  refresh.action((targets, flags) =>
    run(async (ctx) => (await commands.refresh()).refresh(targets, { ...flags, concurrently: true }, ctx)),
  );

  program
    .command('status')
    .description('per pack: objects applied, when, by whom, how long; recent events')
    .option('--pack <name>', 'only this pack')
    .addOption(new Option('--events <n>', 'how many recent events').default('10'))
    .action((flags) => run(async (ctx) => (await commands.status()).status(flags, ctx)));

  const bench = program
    .command('bench <workload>')
    .description('EXPLAIN ANALYZE each workload query: warm-up, measured runs, statistics; optionally compare to a baseline')
    .option('--runs <n>', 'measured runs per query', '30')
    .option('--warmup <n>', 'unmeasured runs per query first', '5')
    .option('--budget <duration>', 'time budget per query (at least 5 runs are made)', '15s')
    .option('--statement-timeout <duration>', 'statement_timeout for each run', '30s')
    .option('--save <file>', 'write the whole result as JSON (a baseline)')
    .option('--compare <baseline>', 'compare this run to a saved one')
    .option('--pack <pack>', "account for a pack's objects: which queries used each, its size")
    .option('--writes', 'with --pack: also measure an insert and an update of sampled rows on each table the pack indexes (rolled back)');
  for (const o of reportFlags()) bench.addOption(o);
  bench.action((workload, flags) => run(async (ctx) => (await commands.bench()).bench(workload, flags, ctx)));

  const advise = program
    .command('advise <workload>')
    .description('find the indexes a workload needs, build each for real, measure it, and write a pack of those that pay')
    .option('--out <file>', 'write the pack here (else it is printed)')
    .option('--max-indexes <n>', 'keep at most this many indexes', '10')
    .option('--max-size <size>', 'keep at most this many bytes of indexes (e.g. 2GB)')
    .option('--max-trials <n>', 'build at most this many candidates for real', '12')
    .option('--time-budget <duration>', 'roughly how long measuring may take', '10min')
    .option('--runs <n>', 'measured runs per query, before and after', '15')
    .option('--statement-timeout <duration>', 'statement_timeout for each measured run', '30s')
    .option('--dry-run', 'list the candidates (and HypoPG estimates) without building anything')
    .option('--install-hypopg', 'CREATE EXTENSION IF NOT EXISTS hypopg to screen candidates (changes the database)')
    .option(
      '--install-extension <name>',
      "CREATE EXTENSION IF NOT EXISTS pg_trgm for LIKE '%…%', ILIKE and regex queries; removed again when no kept index needs it",
    );
  for (const o of runFlags()) advise.addOption(o);
  advise.action((workload, flags) => run(async (ctx) => (await commands.advise()).advise(workload, flags, ctx)));

  program
    .command('capture')
    .description('write a workload from pg_stat_statements: the statements with the most time, real values for their $n, calls per hour')
    .option('--out <file>', 'write the workload here (else it is printed)')
    .option('--top <n>', 'at most this many statements, by total execution time', '20')
    .option('--min-calls <n>', 'leave out statements called fewer times', '2')
    .option('--include-writes', 'INSERT, UPDATE, DELETE and MERGE too (bench runs them rolled back)')
    .option('--log <file>', 'a server log (stderr, csvlog or jsonlog) whose bind values fill each $n first')
    .option('--statement-timeout <duration>', 'statement_timeout for trying each sampled set of values', '30s')
    .option('--force', 'overwrite --out')
    .action((flags) => run(async (ctx) => (await commands.capture()).capture(flags, ctx)));

  program
    .command('hygiene')
    .description(
      'find the indexes that cost without paying (unused, duplicate, redundant, invalid, bloated) and unindexed foreign keys; write a reversible drop pack',
    )
    .option('--workload <file>', 'a workload (written, or from pgopt capture): a drop a query needs is kept')
    .option('--out <file>', 'write the drop pack here')
    .option(
      '--replica <url>',
      'a standby: its index scans count too (repeatable)',
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .option('--min-age <duration>', 'call an index unused only on counters at least this old', '7d')
    .option('--install-hypopg', 'CREATE EXTENSION IF NOT EXISTS hypopg (1.4+) to hide each drop from the planner (changes the database)')
    .option('--measure', 'bench the workload with the drops really gone, in a transaction rolled back (locks their tables: staging)')
    .option('--runs <n>', 'measured runs per query for --measure, each side', '15')
    .option('--lock-timeout <duration>', "--measure's wait for each table's ACCESS EXCLUSIVE lock", '3s')
    .option('--statement-timeout <duration>', 'statement_timeout for planning each workload query', '30s')
    .option('--force', 'overwrite --out')
    .action((flags) => run(async (ctx) => (await commands.hygiene()).hygiene(flags, ctx)));

  program
    .command('snapshot')
    .description("store pg_stat_statements' counters and index scans in the registry (apply takes one at its start and end)")
    .option('--label <label>', 'a name to compare around later: pgopt impact --at <label>')
    .option('--wait <duration>', 'wait this long for another pgopt run on the same database', '0s')
    .action((flags) => run(async (ctx) => (await commands.impact()).snapshot(flags, ctx)));

  program
    .command('impact [pack]')
    .description(
      "production before and after: per statement, the window before a pack's apply (or a snapshot) against the window since, with a verdict",
    )
    .option('--at <label>', "compare around this snapshot instead of a pack's apply")
    .option('--format <format>', 'table, json or markdown', 'table')
    .option('--fail-on-regression', 'exit 1 when a statement is significantly slower in production')
    .option('--html <file>', 'also write the result as a self-contained HTML page')
    .action((pack, flags) => run(async (ctx) => (await commands.impact()).impact(pack, flags, ctx)));

  const exp = program.command('export').description('write a pack in another tool’s format');
  exp
    .command('prisma <pack>')
    .description('one Prisma migration folder per object (each concurrent build alone), plus the schema.prisma lines that keep them')
    .requiredOption('--out <dir>', 'the migrations directory, e.g. prisma/migrations')
    .option('--name <name>', 'pack name (default: the file or directory name)')
    .option('--force', 'overwrite the folders of an earlier export of this pack')
    .action((pack, flags) => run(async (ctx) => (await commands.export()).exportPrisma(pack, flags, ctx)));

  const compare = program.command('compare <before> <after>').description('compare two saved bench runs (no database needed)');
  for (const o of reportFlags()) compare.addOption(o);
  compare.action((before, after, flags) => run(async (ctx) => (await commands.compare()).compare(before, after, flags, ctx)));

  program
    .command('demo')
    .description('the main job in one command: embedded PostgreSQL, audit_engine data, bench, apply, bench, compare, verify, roll back')
    .option('--scale <n>', 'audit_engine data volume (1 = 1M executions)', '0.5')
    .option('--seed <n>', 'random seed for the data', '42')
    .option('--runs <n>', 'measured runs per query', '20')
    .option('--warmup <n>', 'warm-up runs per query', '3')
    .option('--keep', 'leave the server running (with the pack applied) and print its URL')
    .option('--html <file>', 'also write the comparison as a self-contained HTML report with charts')
    .option('--traffic', 'the production loop instead: application traffic, capture, advise, apply, traffic again, impact')
    .option('--calls <n>', 'with --traffic: executions of each query per traffic phase', '60')
    .action((flags) => run(async (ctx) => (await commands.demo()).demo(flags, ctx)));

  const fixtures = program.command('fixtures').description('schemas, data and workloads to try pgopt on');
  fixtures
    .command('load <name>')
    .description('create a fixture schema and generate its data server-side (e.g. audit_engine)')
    .option('--scale <n>', 'data volume: 1 = 1M executions; 0.01 for tests, 10 for stress', '1')
    .option('--seed <n>', 'random seed: the same seed gives the same data', '42')
    .option('--anchor <timestamp>', 'when the generated history ends (default: today 00:00 UTC)')
    .option('--replace', 'drop and reload the fixture tables if they exist')
    .option('--citus', "distribute the tables on Citus as the fixture's citus.sql says (connect to the coordinator)")
    .option('--timescale', "make hypertables as the fixture's timescale.sql says (the database needs TimescaleDB)")
    .action((name, flags) => run(async (ctx) => (await commands.fixtures()).fixturesLoad(name, flags, ctx)));

  return program;
}

/** The single place that turns results and errors into output and an exit code. */
export async function main(argv: string[]): Promise<void> {
  const json = argv.includes('--json');
  const color = !argv.includes('--no-color') && !process.env.NO_COLOR && !!process.stdout.isTTY;
  const reporter = new Reporter({ json, color });
  const interrupt = new AbortController();
  process.on('SIGINT', () => {
    if (interrupt.signal.aborted) process.exit(EXIT_CODES.interrupted);
    interrupt.abort();
    reporter.warn('interrupted: cancelling the running statement and cleaning up (Ctrl-C again to quit at once)');
    void import('./db/scoped.js').then((m) => m.cancelActiveQueries());
  });

  const run = async (fn: (ctx: CommandContext) => Promise<number>) => {
    const globals = program.opts<GlobalOptions>();
    process.exitCode = await fn(makeContext(globals, reporter, interrupt.signal));
  };
  const program = buildProgram(run);
  program.configureOutput({
    writeOut: (s) => process.stdout.write(s),
    writeErr: (s) => process.stderr.write(s),
    // One line per error: commander's "(Did you mean …?)" joins the message.
    outputError: (s, write) => write(s.trimEnd().replace(/\n+/g, ' ') + '\n'),
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = report(err, reporter, argv.includes('--verbose'), interrupt.signal.aborted);
  }
}

/** The error's stack and each cause's, for --verbose. */
function stackOf(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    parts.push(
      depth
        ? `caused by: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`
        : e instanceof Error
          ? (e.stack ?? e.message)
          : String(e),
    );
  }
  return parts.join('\n');
}

function report(err: unknown, reporter: Reporter, verbose: boolean, interrupted: boolean): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
    if (reporter.json) reporter.document({ error: new PgoptError('input', err.message.replace(/^error: /, '')).toJSON() });
    return EXIT_CODES.input;
  }
  let e = asPgoptError(err, (x) => translatePgError(x, 'unexpected database error'));
  // Whatever broke after Ctrl-C (a cancelled statement, a closed connection) broke because of it.
  if (interrupted && e.kind !== 'input' && e.kind !== 'internal') e = new PgoptError('interrupted', `interrupted (${e.message})`);
  const where = formatLocation(e.location);
  const line = `${where ? `${where}: ` : ''}${e.message.replace(/\s*\n\s*/g, ' ')}${e.hint ? ` (${e.hint})` : ''}`;
  if (reporter.json) reporter.document({ error: e.toJSON() });
  reporter.error(line);
  if (verbose) reporter.trace(stackOf(err));
  return e.exitCode;
}
