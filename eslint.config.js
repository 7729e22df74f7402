// Lint runs inside `npm test`; typed rules catch the promise mistakes that matter most in a
// concurrency library (floating promises, misused async callbacks).
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '**/api-docs/**', '.scratch/**', '**/.data/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/only-throw-error': 'error',
      // Async functions that implement a promise-returning contract need no await of their own.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['**/test/**/*.ts'],
    rules: {
      // Tests read JSON replies field by field; the assertions are the type check.
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      // node:test's describe/it return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', name: ['it', 'test', 'describe', 'suite'], package: 'node:test' }] },
      ],
    },
  },
  // JavaScript that no tsconfig includes (tool configs, the plain-Node scripts the consumer test runs in a fresh project): linted without types.
  { files: ['eslint.config.js', 'knip.config.js', '**/typedoc.config.js', '**/test/package/consumer/*.{mjs,cjs}'], ...tseslint.configs.disableTypeChecked },
  {
    files: ['**/typedoc.config.js', '**/test/package/consumer/*.{mjs,cjs}'],
    languageOptions: { globals: { URL: 'readonly', console: 'readonly', process: 'readonly' } },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
)
