import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A reproducible corpus of broken packs and workloads: real files from the repository, mutated
 * by a seeded generator. The same seed always gives the same cases (README: "Fuzzing").
 */
export interface FuzzCase {
  id: string;
  kind: 'pack' | 'workload';
  mutation: string;
  bytes: Buffer;
}

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const read = (p: string) => readFileSync(here(p));

function seeds(): { kind: FuzzCase['kind']; bytes: Buffer }[] {
  const packDir = here('../../sql/audit_engine');
  const packs = readdirSync(packDir).map((f) => readFileSync(join(packDir, f)));
  const verdicts = ['queue', 'shop', 'ledger'];
  return [
    ...packs.map((bytes) => ({ kind: 'pack' as const, bytes })),
    ...verdicts.map((v) => ({ kind: 'pack' as const, bytes: read(`../perf/verdicts/${v}.pack.sql`) })),
    { kind: 'workload', bytes: read('../../fixtures/audit_engine/workload.sql') },
    ...verdicts.map((v) => ({ kind: 'workload' as const, bytes: read(`../perf/verdicts/${v}.workload.sql`) })),
  ];
}

/** mulberry32: small, fast, seeded. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Mutate = (b: Buffer, r: () => number) => Buffer;
const at = (b: Buffer, r: () => number) => Math.floor(r() * (b.length + 1));
const splice = (b: Buffer, pos: number, del: number, ins: Buffer) => Buffer.concat([b.subarray(0, pos), ins, b.subarray(pos + del)]);
const words = (b: Buffer) => b.toString('latin1').split(/(\s+)/);

const MUTATIONS: Record<string, Mutate> = {
  truncate: (b, r) => b.subarray(0, at(b, r)),
  'swap-tokens': (b, r) => {
    const w = words(b);
    for (let k = 0; k < 3; k++) {
      const i = Math.floor(r() * w.length);
      const j = Math.floor(r() * w.length);
      [w[i], w[j]] = [w[j], w[i]];
    }
    return Buffer.from(w.join(''), 'latin1');
  },
  'drop-token': (b, r) => {
    const w = words(b);
    w.splice(Math.floor(r() * w.length), 1);
    return Buffer.from(w.join(''), 'latin1');
  },
  'random-bytes': (b, r) =>
    splice(b, at(b, r), 0, Buffer.from(Array.from({ length: 1 + Math.floor(r() * 16) }, () => Math.floor(r() * 256)))),
  'invalid-utf8': (b, r) => splice(b, at(b, r), 0, Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0xa0])),
  'control-chars': (b, r) => splice(b, at(b, r), 0, Buffer.from('\u0000\u0001\u001b[31m\u0007', 'utf8')),
  'long-identifier': (b, r) => splice(b, at(b, r), 0, Buffer.from(` "${'x'.repeat(10_240)}" `)),
  'long-bare-identifier': (b) =>
    Buffer.from(`CREATE INDEX ${'i'.repeat(10_240)} ON t (a);\n-- name: ${'q'.repeat(10_240)}\nSELECT 1;\n${b.toString('utf8')}`),
  'deep-nesting': (_b, r) => {
    const depth = 200 + Math.floor(r() * 20_000);
    return Buffer.from(
      `-- name: deep\nSELECT ${'('.repeat(depth)}1${')'.repeat(depth)};\nCREATE INDEX IF NOT EXISTS d ON t ((${'('.repeat(depth)}a${')'.repeat(depth)}));\n`,
    );
  },
  'unbalanced-quote': (b, r) => splice(b, at(b, r), 0, Buffer.from(["'", '"', '$$', '/*', "E'\\"][Math.floor(r() * 5)])),
  'directive-noise': (b, r) =>
    splice(
      b,
      at(b, r),
      0,
      Buffer.from(
        ['\n-- Name: x\n', '\n-- params:\n', '\n-- pgopt:rollback\n', '\n-- expect: under ms\n', '\n-- when-exists:\n'][
          Math.floor(r() * 5)
        ],
      ),
    ),
  'duplicate-file': (b) => Buffer.concat([b, Buffer.from('\n'), b]),
  empty: () => Buffer.alloc(0),
  'bom-crlf': (b) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(b.toString('utf8').replace(/\n/g, '\r\n'))]),
};
const NAMES = Object.keys(MUTATIONS);

/** `n` cases from `seed`. `huge` adds one 10 MB file (slow: for the full corpus, not the test sample). */
export function makeCorpus(seed: number, n: number, opts: { huge?: boolean } = {}): FuzzCase[] {
  const r = rng(seed);
  const base = seeds();
  const out: FuzzCase[] = [];
  for (let i = 0; i < n; i++) {
    const s = base[Math.floor(r() * base.length)];
    const mutation = NAMES[Math.floor(r() * NAMES.length)];
    let bytes = MUTATIONS[mutation](s.bytes, r);
    // A second mutation now and then: most real breakage is more than one thing.
    if (r() < 0.3) bytes = MUTATIONS[NAMES[Math.floor(r() * NAMES.length)]](bytes, r);
    out.push({ id: `${seed}-${i}`, kind: s.kind, mutation, bytes });
  }
  if (opts.huge)
    out.push({
      id: `${seed}-huge`,
      kind: 'pack',
      mutation: '10 MB',
      bytes: Buffer.from(`-- ${'x'.repeat(80)}\n`.repeat(120_000) + 'CREATE INDEX ON t (a);\n'),
    });
  return out;
}
