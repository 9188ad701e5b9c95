// The CLI skips meta-schema validation at run time for speed; this is where it happens.
import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';

describe('schemas/images.schema.json', () => {
  it('is a valid draft 2020-12 schema', () => {
    const schema = JSON.parse(
      readFileSync(new URL('../../../schemas/images.schema.json', import.meta.url), 'utf8'),
    );
    const ajv = new Ajv2020.default({ strict: false });
    const valid = ajv.validateSchema(schema);
    expect(ajv.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
  });
});
