import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One temporary directory per run, removed at its end (test/support/run-tmpdir.ts).
    globalSetup: ['test/support/run-tmpdir.ts'],
    // Integration tests drive a real Docker engine and real registries; give them room.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: the engine is the bottleneck, not the test runner.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
