import { describe, expect, it } from 'vitest';
import { errorMessage, nextLink } from '../../../src/publish/http.js';

describe('nextLink', () => {
  it('finds rel="next" among the relations GitHub and GitLab send', () => {
    const github =
      '<https://api.github.com/repositories/1/issues/7/comments?per_page=100&page=2>; rel="next", ' +
      '<https://api.github.com/repositories/1/issues/7/comments?per_page=100&page=5>; rel="last"';
    expect(nextLink(github)).toBe(
      'https://api.github.com/repositories/1/issues/7/comments?per_page=100&page=2',
    );
    const gitlab = '<https://gl/api/v4/x?page=1>; rel="first", <https://gl/api/v4/x?page=3>; rel="next"';
    expect(nextLink(gitlab)).toBe('https://gl/api/v4/x?page=3');
    expect(nextLink('<https://a/b?page=1>; rel="prev", <https://a/b?page=9>; rel="last"')).toBeNull();
    expect(nextLink(undefined)).toBeNull();
    // A URL holding a comma must not split the entry.
    expect(nextLink('<https://a/b?q=x,y&page=2>; rel="next"')).toBe('https://a/b?q=x,y&page=2');
  });
});

describe('errorMessage', () => {
  it("extracts the API's own words on one line", () => {
    expect(
      errorMessage({ message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' }),
    ).toBe('Bad credentials');
    expect(
      errorMessage({
        message: 'Validation Failed',
        errors: [{ code: 'custom', message: 'body is too long' }],
      }),
    ).toBe('Validation Failed: body is too long');
    expect(errorMessage({ message: { note: ['is too long', 'is invalid'] } })).toBe(
      'note is too long, is invalid',
    );
    expect(errorMessage({ error: 'insufficient_scope' })).toBe('insufficient_scope');
    expect(errorMessage('<html>\n<body>Bad Gateway</body>\n</html>')).toBe(
      '<html> <body>Bad Gateway</body> </html>',
    );
  });
});
