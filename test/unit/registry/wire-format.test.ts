// Pure parsing of registry answers: manifests, configs, error bodies, Link headers, chunking.
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunksOf } from '../../../src/registry/blobs.js';
import { parseImageConfig } from '../../../src/registry/config-blob.js';
import { describeRef } from '../../../src/registry/context.js';
import { digestOf, isDigest, referrersTag } from '../../../src/registry/digest.js';
import { RegistryError } from '../../../src/registry/errors.js';
import { nextLink } from '../../../src/registry/link-header.js';
import { defaultChild, parseManifest } from '../../../src/registry/manifest-model.js';
import { DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST } from '../../../src/registry/media-types.js';
import { registryProblem } from '../../../src/registry/reference.js';
import { parseErrorBody } from '../../../src/registry/response.js';

const REF = '127.0.0.1:5000/ns/x:v1';
const D = `sha256:${'a'.repeat(64)}`;

describe('parseManifest', () => {
  const image = { schemaVersion: 2, config: { mediaType: 'c', digest: D, size: 1 }, layers: [] };
  it('takes the media type from the JSON, else from Content-Type', () => {
    const bytes = Buffer.from(JSON.stringify(image));
    expect(parseManifest(bytes, REF, `${DOCKER_MANIFEST}; charset=utf-8`).mediaType).toBe(DOCKER_MANIFEST);
    expect(parseManifest(bytes, REF).mediaType).toBe(OCI_MANIFEST);
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
    expect(parseManifest(index, REF).mediaType).toBe(OCI_INDEX);
  });

  it.each([
    ['{"schemaVersion": 2, "config": {', /^127\.0\.0\.1:5000\/ns\/x:v1: malformed manifest JSON \(.+\)$/],
    ['[]', /malformed manifest: not a JSON object$/],
    ['{"schemaVersion": 1, "fsLayers": []}', /schemaVersion 1 is not supported \(only 2\)$/],
    ['{"schemaVersion": 2, "layers": []}', /config is missing or not a descriptor$/],
    [`{"schemaVersion": 2, "config": {"digest": "${D}", "size": -1}, "layers": []}`, /config is missing/],
    ['{"schemaVersion": 2, "manifests": [{"digest": 1}]}', /an index entry is not a descriptor$/],
  ])('rejects %s with one line naming the reference', (text, message) => {
    const error = (() => {
      try {
        parseManifest(Buffer.from(text), REF);
      } catch (e) {
        return e as RegistryError;
      }
    })();
    expect(error).toBeInstanceOf(RegistryError);
    expect(error?.message).toMatch(message);
    expect(error?.reference).toBe(REF);
    expect(error?.message).not.toContain('\n');
  });
});

describe('defaultChild', () => {
  it('prefers the wanted platform, skips attestation entries, else takes the first', () => {
    const d = (arch: string, digest: string) => ({
      mediaType: OCI_MANIFEST,
      digest,
      size: 1,
      platform: { os: 'linux', architecture: arch },
    });
    const index = {
      schemaVersion: 2 as const,
      manifests: [d('unknown', 'att'), d('arm64', 'arm'), d('amd64', 'amd')],
    };
    expect(defaultChild(index, { os: 'linux', architecture: 'amd64' })?.digest).toBe('amd');
    expect(defaultChild(index, { os: 'linux', architecture: 's390x' })?.digest).toBe('arm');
  });
});

describe('parseImageConfig', () => {
  it('reads created, labels, platform; null labels are none', () => {
    const bytes = Buffer.from(
      JSON.stringify({
        created: '2025-01-01T00:00:00Z',
        architecture: 'arm64',
        os: 'linux',
        variant: 'v8',
        config: { Labels: { a: 'b', n: 1 } },
      }),
    );
    expect(parseImageConfig(bytes, REF)).toEqual({
      created: '2025-01-01T00:00:00Z',
      labels: { a: 'b' },
      architecture: 'arm64',
      os: 'linux',
      variant: 'v8',
    });
    expect(parseImageConfig(Buffer.from('{"config":{"Labels":null}}'), REF).labels).toEqual({});
    expect(() => parseImageConfig(Buffer.from('nope'), REF)).toThrow(
      /^127\.0\.0\.1:5000\/ns\/x:v1: malformed image config JSON/,
    );
  });
});

describe('parseErrorBody', () => {
  it('reads the first distribution error', () => {
    expect(
      parseErrorBody('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}'),
    ).toEqual({
      code: 'MANIFEST_UNKNOWN',
      message: 'manifest unknown',
    });
    expect(parseErrorBody('<html>bad gateway</html>')).toBeUndefined();
    expect(parseErrorBody('{"errors":[]}')).toBeUndefined();
  });
});

describe('nextLink', () => {
  const base = new URL('https://r.example/v2/ns/x/tags/list?n=2');
  it('resolves rel="next" against the asked URL', () => {
    expect(nextLink('</v2/ns/x/tags/list?last=b&n=2>; rel="next"', base)).toBe(
      'https://r.example/v2/ns/x/tags/list?last=b&n=2',
    );
    expect(nextLink('<https://other/p?x=1>; rel=next', base)).toBe('https://other/p?x=1');
  });
  it('picks next among several links and ignores others', () => {
    expect(nextLink('</prev>; rel="prev", </next?a=1,2>; rel="next"', base)).toBe(
      'https://r.example/next?a=1,2',
    );
    expect(nextLink('</first>; rel="first"', base)).toBeUndefined();
    expect(nextLink(undefined, base)).toBeUndefined();
  });
});

describe('chunksOf', () => {
  it('splits any stream into chunks of exactly the size (the last one shorter), losing nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 20 }),
        fc.integer({ min: 1, max: 40 }),
        async (pieces, size) => {
          const whole = Buffer.concat(pieces.map((p) => Buffer.from(p)));
          const chunks: Buffer[] = [];
          for await (const c of chunksOf(Readable.from(pieces.map((p) => Buffer.from(p))), size))
            chunks.push(c);
          expect(Buffer.concat(chunks).equals(whole)).toBe(true);
          expect(chunks.slice(0, -1).every((c) => c.length === size)).toBe(true);
          expect(chunks.every((c) => c.length > 0 && c.length <= size)).toBe(true);
        },
      ),
    );
  });
});

describe('digests and references', () => {
  it('computes digests with the algorithm asked for', () => {
    expect(digestOf(Buffer.from(''))).toBe(
      'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(digestOf(Buffer.from(''), `sha512:${'0'.repeat(128)}`)).toMatch(/^sha512:cf83e135/);
    expect(isDigest(D)).toBe(true);
    expect(isDigest('v1.0')).toBe(false);
    expect(referrersTag(D)).toBe(`sha256-${'a'.repeat(64)}`);
  });
  it('writes tag and digest references the way users read them', () => {
    expect(describeRef('r:5000', 'ns/x', 'v1')).toBe('r:5000/ns/x:v1');
    expect(describeRef('r:5000', 'ns/x', D)).toBe(`r:5000/ns/x@${D}`);
    expect(describeRef('r:5000', 'ns/x')).toBe('r:5000/ns/x');
  });
  it('refuses a registry port outside 1-65535 (the URL would not parse later)', () => {
    expect(registryProblem('127.0.0.1:99999')).toBe('port 99999 is not in 1-65535');
    expect(registryProblem('registry.example:0')).toBe('port 0 is not in 1-65535');
    expect(registryProblem('127.0.0.1:65535')).toBeNull();
    expect(registryProblem('[::1]:5000')).toBeNull();
  });
});
