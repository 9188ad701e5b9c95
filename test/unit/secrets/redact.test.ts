import { describe, expect, it } from 'vitest';
import { redact } from '../../../src/secrets.js';

describe('redact: a password written into a URL or registry name', () => {
  it('is masked wherever the value is echoed', () => {
    expect(
      redact('invalid registry "alice:S3cretPassw0rd@127.0.0.1:5302": registry must be host[:port]'),
    ).toBe('invalid registry "alice:***@127.0.0.1:5302": registry must be host[:port]');
    expect(redact('source http://alice:pw12345@127.0.0.1:5302/corpus')).toBe(
      'source http://alice:***@127.0.0.1:5302/corpus',
    );
    expect(redact('alice:pw@host:5000/x')).toBe('alice:***@host:5000/x');
  });

  it('leaves references that carry a tag and a digest, and host:port paths, as they are', () => {
    for (const text of [
      '127.0.0.1:5000/demo/nova:2025.1@sha256:0123abcd',
      'nova:2025.1@sha256:0123abcd',
      'registry 127.0.0.1:5000/demo/nova:2025.1',
      'images.yaml:3:8: error: x',
    ])
      expect(redact(text)).toBe(text);
  });
});
