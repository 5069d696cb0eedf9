// npm run lint: the house rules that a reviewer would otherwise have to remember (ARCHITECTURE.md).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const CORE = [
  'src/engine/**/*.ts',
  'src/bench/**/*.ts',
  'src/pack/**/*.ts',
  'src/db/**/*.ts',
  'src/sql/**/*.ts',
  'src/advise/**/*.ts',
  'src/report/**/*.ts',
  'src/export/**/*.ts',
  'src/demo/**/*.ts',
  'src/fixture-loader/**/*.ts',
  'src/production/**/*.ts',
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'test/perf/**', 'fixtures/**', 'bin/**', '.ci/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The core returns data or throws typed errors: it never prints, and it knows nothing of the terminal.
    files: CORE,
    rules: {
      'no-console': 'error',
      'no-restricted-imports': [
        'error',
        {
          paths: ['chalk', 'ora', 'cli-table3', 'commander'].map((name) => ({ name, message: 'output belongs at the edge (src/output, src/commands)' })),
          patterns: [{ group: ['**/commands/**', '**/output/**', '**/cli.js'], message: 'the core must not depend on the CLI layer' }],
        },
      ],
      'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true, IIFEs: true }],
      'no-restricted-properties': ['error', { object: 'process', property: 'exit', message: 'the core throws; the CLI funnel exits' }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
