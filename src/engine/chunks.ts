/**
 * Where verify decides a hypertable's index is whole: the root's indisvalid says nothing about
 * coverage (an ON ONLY root is valid with no chunk index; a per-chunk build that died leaves the
 * chunks it finished valid and the rest bare), so an index holds only when every chunk has a
 * valid index matching the root.
 */

export type ChunkProblem = 'missing' | 'INVALID';

export interface ChunkVerdict {
  total: number;
  valid: number;
  problems: { chunk: string; problem: ChunkProblem }[];
  /** Chunks whose rows are compressed: queries there read the compressed copy, not this index. */
  compressed: number;
  /** "11/13 chunks valid, missing on _hyper_1_3_chunk, _hyper_1_4_chunk". */
  summary: string;
}

/** Judge every chunk's matching index (pure). */
export function judgeChunks(rows: { chunk: { name: string; compressed: boolean }; index: { valid: boolean } | null }[]): ChunkVerdict {
  const problems = rows.flatMap((r): ChunkVerdict['problems'] =>
    !r.index ? [{ chunk: r.chunk.name, problem: 'missing' }] : !r.index.valid ? [{ chunk: r.chunk.name, problem: 'INVALID' }] : [],
  );
  const compressed = rows.filter((r) => r.chunk.compressed).length;
  const valid = rows.length - problems.length;
  const head = `${valid}/${rows.length} chunks valid`;
  const tail = compressed ? ` (${compressed} compressed: queries there read the compressed copy)` : '';
  return { total: rows.length, valid, problems, compressed, summary: `${head}${problems.length ? `, ${describe(problems)}` : ''}${tail}` };
}

function describe(problems: ChunkVerdict['problems']): string {
  return (['missing', 'INVALID'] as const)
    .map((kind) => {
      const names = problems.filter((p) => p.problem === kind).map((p) => p.chunk);
      if (!names.length) return '';
      const listed = names.length > 4 ? `${names.slice(0, 4).join(', ')} and ${names.length - 4} more` : names.join(', ');
      return `${kind} on ${listed}`;
    })
    .filter(Boolean)
    .join('; ');
}
