import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests drive a real Docker engine and real registries; give them room.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: the engine is the bottleneck, not the test runner.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
