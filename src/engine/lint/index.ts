import type { Pack } from '../../pack/types.js';
import { assessPack, type Assessment } from '../assess.js';
import { gatherFacts } from './facts.js';
import { missingIfNotExists } from './rules/missing-if-not-exists.js';
import { matviewNoUniqueIndex } from './rules/matview-no-unique-index.js';
import { notConcurrent } from './rules/not-concurrent.js';
import { redundantIndex } from './rules/redundant-index.js';
import { ginJsonbOps } from './rules/gin-jsonb-ops.js';
import { lowCardinality } from './rules/low-cardinality.js';
import { writeHeavyTable } from './rules/write-heavy-table.js';
import { uniqueDuplicates } from './rules/unique-duplicates.js';
import { hypertableUnique } from './rules/hypertable-unique.js';
import type { LintFacts, LintFinding, LintResult, Rule } from './types.js';
import type { Session } from '../../db/session.js';

export * from './types.js';

/** Every rule, in the order its findings are listed for one object. A new rule: one file in rules/, one line here. */
export const RULES: Rule[] = [
  missingIfNotExists,
  matviewNoUniqueIndex,
  notConcurrent,
  redundantIndex,
  ginJsonbOps,
  lowCardinality,
  writeHeavyTable,
  uniqueDuplicates,
  hypertableUnique,
];

/** Apply the rules to facts already gathered: pure, no database. */
export function runRules(facts: LintFacts, rules: Rule[] = RULES): LintFinding[] {
  const findings = facts.objects.flatMap((o) =>
    rules.flatMap((rule) => rule(o, facts)).map((f) => ({ ...f, location: o.a.object.statement.location, object: o.a.qualifiedName })),
  );
  return findings.sort((x, y) =>
    x.location.file === y.location.file ? x.location.line - y.location.line : x.location.file < y.location.file ? -1 : 1,
  );
}

/**
 * Rules in the spirit of squawk, decided from the parse tree and the catalog. Errors mean
 * apply would fail or do harm; warnings are costs a DBA should know about.
 */
export async function lintPack(c: Session, pack: Pack, assessed?: Assessment[]): Promise<LintResult> {
  const assessments = assessed ?? (await assessPack(c, pack)).assessments;
  return { pack: pack.name, findings: runRules(await gatherFacts(c, assessments)) };
}
