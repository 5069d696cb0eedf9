import type { Rule } from '../types.js';

/** A UNIQUE index over data that already repeats a key: the build would fail. */
export const uniqueDuplicates: Rule = (o, facts) => {
  const d = facts.duplicates.get(o);
  if (!d) return [];
  if ('unchecked' in d) {
    return [
      {
        rule: 'unique-duplicates',
        severity: 'warning',
        message: `not checked for duplicate keys: ${d.unchecked}`,
        hint: 'run pgopt as the table owner (or a member of its role) to check before the build; otherwise the build will tell',
      },
    ];
  }
  return [
    {
      rule: 'unique-duplicates',
      severity: 'error',
      message: `UNIQUE index over data with duplicates (e.g. ${d.sample} appears ${d.count} times): the build would fail`,
      hint: 'remove the duplicates first, or drop UNIQUE',
    },
  ];
};
