import type pg from 'pg';
import { newClient } from '../db/connect.js';
import type { Workload } from '../bench/workload.js';

/**
 * Application traffic from a workload file, as an application sends it: plain connections (not
 * pgopt's sessions, so pg_stat_statements counts every statement), bind parameters cycling through
 * each query's params rows, several clients at once. The demo's production.
 */
export interface TrafficOptions {
  clients: number;
  /** Executions of each query, over all clients. */
  callsPerQuery: number;
  /** How many times more often than the others a query runs (1 when not given): production's rates are not equal. */
  rate?: (query: string) => number;
  application: string;
}

export interface TrafficResult {
  calls: number;
  ms: number;
}

interface Job {
  rate: number;
  sql: string;
  values: unknown[][];
}

/** Each query's raw form and its params rows, read once (as the application would have them). */
async function jobsOf(c: pg.Client, workload: Workload, rate: (query: string) => number): Promise<Job[]> {
  const jobs: Job[] = [];
  // A query with no values (`-- values-from: none`) is nothing an application could send here.
  for (const q of workload.queries.filter((x) => !x.planOnly)) {
    const values = q.params ? (await c.query({ text: q.params, rowMode: 'array' })).rows : [[]];
    if (values.length) jobs.push({ rate: Math.max(1, Math.round(rate(q.name))), sql: q.forms[0].sql, values });
  }
  return jobs;
}

/** Send the workload's queries `callsPerQuery` times each, interleaved, from `clients` connections. */
export async function sendTraffic(url: string, workload: Workload, o: TrafficOptions): Promise<TrafficResult> {
  const clients = await Promise.all(
    Array.from({ length: o.clients }, async () => {
      // The embedded server's own URL says everything: no PG* variable of the user's may change it.
      const c = newClient({ connectionString: url, application_name: o.application });
      await c.connect();
      return c;
    }),
  );
  const t0 = performance.now();
  let calls = 0;
  try {
    // The params are the demo's own reads, not the application's: kept out of pg_stat_statements.
    await clients[0].query(`SET pg_stat_statements.track = 'none'`);
    const jobs = await jobsOf(clients[0], workload, o.rate ?? (() => 1));
    await clients[0].query('RESET pg_stat_statements.track');
    const perClient = Math.ceil(o.callsPerQuery / o.clients);
    await Promise.all(
      clients.map(async (c, k) => {
        for (let i = 0; i < perClient; i++) {
          for (const j of jobs)
            for (let r = 0; r < j.rate; r++) {
              await c.query(j.sql, j.values[((i * j.rate + r) * o.clients + k) % j.values.length]);
              calls++;
            }
        }
      }),
    );
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
  }
  return { calls, ms: performance.now() - t0 };
}
