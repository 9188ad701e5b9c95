// Redaction in one place: every credential or token arbor learns is registered here the moment
// it is read, and every line arbor prints, logs or saves passes through redact().

const secrets = new Set<string>();

/** Remember a secret so it can never be printed. Short values are ignored (they would mask normal text). */
export function registerSecret(value: string | undefined | null): void {
  if (!value || value.length < 4) return;
  secrets.add(value);
  // Basic auth travels base64-encoded; a token may be echoed URL-encoded.
  const encoded = encodeURIComponent(value);
  if (encoded !== value) secrets.add(encoded);
}

const AUTH_HEADER =
  /\b(authorization|proxy-authorization)(["']?\s*[:=]\s*["']?)(basic|bearer)\s+[^\s"',}]+/gi;
const TOKEN_FIELD =
  /("(?:token|access_token|refresh_token|password|auth|identitytoken|secret)"\s*:\s*")[^"]*(")/gi;

/**
 * A password written into a URL or registry name (`https://user:pass@host`, `user:pass@host:5000`),
 * which arbor refuses but must not echo while saying so. Only at the start of a word or after
 * `//`, and not before a digest (`name:tag@sha256:…` is a reference, not credentials).
 */
const URL_USERINFO = /(?<=^|[\s"'(=<[]|\/\/)([A-Za-z0-9._~%+-]+):[^\s@/"':]+@(?!sha(?:256|384|512):)/g;

export function redact(text: string): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('***');
  out = out.replace(AUTH_HEADER, '$1$2$3 ***');
  out = out.replace(TOKEN_FIELD, '$1***$2');
  out = out.replace(URL_USERINFO, '$1:***@');
  return out;
}

/** For tests: forget everything registered. */
export function clearSecrets(): void {
  secrets.clear();
}
