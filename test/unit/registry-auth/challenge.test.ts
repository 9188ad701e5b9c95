import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { challengeScopes, parseWwwAuthenticate } from '../../../src/registry/auth/challenge.js';

describe('parseWwwAuthenticate', () => {
  test('Basic with a realm', () => {
    expect(parseWwwAuthenticate('Basic realm="Registry Realm"')).toEqual([
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
    ]);
  });

  test('Bearer as distribution sends it', () => {
    const header =
      'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull,push"';
    const [challenge] = parseWwwAuthenticate(header);
    expect(challenge).toEqual({
      scheme: 'bearer',
      params: {
        realm: 'https://auth.example.com/token',
        service: 'registry.example.com',
        scope: 'repository:team/app:pull,push',
      },
    });
    expect(challengeScopes(challenge!)).toEqual(['repository:team/app:pull,push']);
  });

  test('scheme and parameter names are case-insensitive; values keep their case', () => {
    expect(parseWwwAuthenticate('BEARER Realm="http://A/T", SERVICE=Reg')).toEqual([
      { scheme: 'bearer', params: { realm: 'http://A/T', service: 'Reg' } },
    ]);
  });

  test('quoted strings with backslash escapes, commas and spaces inside', () => {
    expect(parseWwwAuthenticate('Bearer realm="a \\"quoted\\" realm, with comma",error="x\\\\y"')).toEqual([
      { scheme: 'bearer', params: { realm: 'a "quoted" realm, with comma', error: 'x\\y' } },
    ]);
  });

  test('several challenges in one header, with and without parameters, and a token68', () => {
    expect(
      parseWwwAuthenticate(
        'Negotiate abc123==, Basic realm="r1", Bearer realm="https://t/token",service="s" , NTLM',
      ),
    ).toEqual([
      { scheme: 'negotiate', params: {}, token68: 'abc123==' },
      { scheme: 'basic', params: { realm: 'r1' } },
      { scheme: 'bearer', params: { realm: 'https://t/token', service: 's' } },
      { scheme: 'ntlm', params: {} },
    ]);
  });

  test('a scope parameter listing several scopes, and scopes whose names hold a port', () => {
    const [challenge] = parseWwwAuthenticate(
      'Bearer realm="r",scope="repository:a/b:pull repository:127.0.0.1:5000/c:pull,push  registry:catalog:*"',
    );
    expect(challengeScopes(challenge!)).toEqual([
      'repository:a/b:pull',
      'repository:127.0.0.1:5000/c:pull,push',
      'registry:catalog:*',
    ]);
  });

  test('empty or garbage values give no challenge instead of throwing', () => {
    expect(parseWwwAuthenticate('')).toEqual([]);
    expect(parseWwwAuthenticate('  ,  ')).toEqual([]);
    expect(parseWwwAuthenticate('"unterminated')).toEqual([]);
    expect(parseWwwAuthenticate('Bearer realm="unterminated')).toEqual([{ scheme: 'bearer', params: {} }]);
  });

  test('property: any parameter values survive quoting and parsing', () => {
    const name = fc.constantFrom('realm', 'service', 'scope', 'error', 'x-extra');
    const params = fc.dictionary(name, fc.string({ maxLength: 40 }), { minKeys: 1 });
    fc.assert(
      fc.property(fc.array(params, { minLength: 1, maxLength: 3 }), (list) => {
        const header = list
          .map(
            (p) =>
              `Bearer ${Object.entries(p)
                .map(([k, v]) => `${k}="${v.replace(/["\\]/g, (c) => `\\${c}`)}"`)
                .join(', ')}`,
          )
          .join(', ');
        expect(parseWwwAuthenticate(header)).toEqual(list.map((p) => ({ scheme: 'bearer', params: p })));
      }),
    );
  });
});
