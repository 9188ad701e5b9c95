// Public entry of registry authentication: the registry client imports only this file.
export {
  type AuthenticatorOptions,
  type ClosableAuthenticator,
  createAuthenticator,
} from './authenticator.js';
export { type Challenge, parseWwwAuthenticate } from './challenge.js';
export { createTlsAgent, describeTlsError, tlsConnectOptions } from './tls.js';
export { isLoopback } from './token-endpoint.js';
export type { Action, Authenticator, Credentials, Scope } from './types.js';
export { formatScope } from './types.js';
