import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { covers, mergeScopes, parseScope, scopeKey } from '../../../src/registry/auth/scope.js';

describe('scopes', () => {
  test('parse: type up to the first colon, actions after the last', () => {
    expect(parseScope('repository:team/app:pull,push')).toEqual({
      type: 'repository',
      name: 'team/app',
      actions: ['pull', 'push'],
    });
    expect(parseScope('repository:127.0.0.1:5000/app:pull')).toEqual({
      type: 'repository',
      name: '127.0.0.1:5000/app',
      actions: ['pull'],
    });
    expect(parseScope('registry:catalog:*')).toEqual({ type: 'registry', name: 'catalog', actions: ['*'] });
    expect(parseScope('repository:no-actions')).toBeUndefined();
    expect(parseScope('nonsense')).toBeUndefined();
  });

  test('a pull,push token serves pull; a pull token does not serve push; * serves everything', () => {
    const pullPush = [parseScope('repository:a:pull,push')!];
    expect(covers(pullPush, [parseScope('repository:a:pull')!])).toBe(true);
    expect(covers(pullPush, [parseScope('repository:a:push,pull')!])).toBe(true);
    expect(covers(pullPush, [parseScope('repository:a:delete')!])).toBe(false);
    expect(covers(pullPush, [parseScope('repository:b:pull')!])).toBe(false);
    expect(covers([parseScope('repository:a:pull')!], [parseScope('repository:a:push')!])).toBe(false);
    expect(covers([parseScope('registry:catalog:*')!], [parseScope('registry:catalog:list')!])).toBe(true);
    expect(covers([parseScope('repository:a:*')!], [parseScope('registry:a:pull')!])).toBe(false);
  });

  test('merge joins actions per resource; the key is canonical', () => {
    const merged = mergeScopes([
      parseScope('repository:a:push')!,
      parseScope('repository:b:pull')!,
      parseScope('repository:a:pull')!,
    ]);
    expect(merged).toEqual([
      { type: 'repository', name: 'a', actions: ['pull', 'push'] },
      { type: 'repository', name: 'b', actions: ['pull'] },
    ]);
    expect(scopeKey(merged)).toBe('repository:a:pull,push repository:b:pull');
    expect(scopeKey([parseScope('repository:b:pull')!, parseScope('repository:a:push,pull')!])).toBe(
      scopeKey(merged),
    );
  });

  test('property: merged scopes cover every scope they came from', () => {
    const scope = fc.record({
      type: fc.constantFrom('repository', 'registry'),
      name: fc.constantFrom('a', 'b/c', '127.0.0.1:5000/d'),
      actions: fc.subarray(['pull', 'push', 'delete'], { minLength: 1 }),
    });
    fc.assert(
      fc.property(fc.array(scope, { minLength: 1, maxLength: 6 }), (scopes) => {
        const merged = mergeScopes(scopes);
        expect(covers(merged, scopes)).toBe(true);
        for (const s of scopes) expect(covers(merged, [s])).toBe(true);
      }),
    );
  });
});
