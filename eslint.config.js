import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // rivulet/client runs in browsers: nothing from Node, nothing from the server's code.
    files: ['src/client/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['node:*', 'fs', 'path', 'os', 'crypto', 'http', 'https', 'net', 'stream', 'events', 'buffer', 'url', 'util', 'zlib', 'child_process', 'worker_threads'], message: 'rivulet/client must run in browsers: no Node built-ins.' },
        { group: ['../*'], message: 'rivulet/client imports only its own folder, so that it bundles alone.' },
        { group: ['ws', 'zod', 'fastify', '@fastify/*', 'lmdb', 'pg', 'prom-client'], message: 'rivulet/client has no dependencies.' },
      ] }],
      'no-restricted-globals': ['error', { name: 'Buffer', message: 'not in browsers' }, { name: 'process', message: 'not in browsers' }, { name: 'require', message: 'not in browsers' }],
    },
  },
);
