// unlessNotFound: a 404 from the registry becomes the caller's "absent" value; every other
// failure still fails.
import { describe, expect, it } from 'vitest';
import { RegistryError, unlessNotFound } from '../../../src/registry/errors.js';

const failing = (e: unknown) => Promise.reject(e);

describe('unlessNotFound', () => {
  it('passes a result through, turns a 404 into the absent value', async () => {
    expect(await unlessNotFound(Promise.resolve(['v1']), [])).toEqual(['v1']);
    expect(
      await unlessNotFound(failing(new RegistryError('r/x:t', 'manifest unknown', { status: 404 })), null),
    ).toBe(null);
  });

  it('rethrows any other status and anything that is not a RegistryError', async () => {
    const denied = new RegistryError('r/x:t', 'denied', { status: 403 });
    await expect(unlessNotFound(failing(denied), null)).rejects.toBe(denied);
    const refused = new RegistryError('r', 'connection refused', { code: 'ECONNREFUSED' });
    await expect(unlessNotFound(failing(refused), null)).rejects.toBe(refused);
    const plain = Object.assign(new Error('not found'), { status: 404 });
    await expect(unlessNotFound(failing(plain), null)).rejects.toBe(plain);
  });
});
