// The CLI validates with the schema compiled ahead of time; it must be the current schema's.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('src/config/images-schema.validator.ts', () => {
  it('is generated from the current schemas/images.schema.json', () => {
    const script = fileURLToPath(new URL('../../../scripts/gen-schema-validator.mjs', import.meta.url));
    // Exits 1 with a message naming the command to run when the generated file is stale.
    expect(() => execFileSync(process.execPath, [script, '--check'], { stdio: 'pipe' })).not.toThrow();
  });
});
