// A throwaway PKI made with the real openssl: a CA, and certificates it signs — a server
// certificate for 127.0.0.1 (IP SAN) for TLS tests, and a signing certificate whose key signs
// token-server JWTs (the registry trusts it through auth.token.rootcertbundle = the CA).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCa {
  dir: string;
  certFile: string;
  keyFile: string;
}

export interface IssuedCertificate {
  certFile: string;
  keyFile: string;
  /** The certificate's PEM text. */
  cert: string;
  /** The private key, PKCS#8 PEM (what jose's importPKCS8 reads). */
  key: string;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function createCa(name = 'arbor test CA', dir = mkdtempSync(join(tmpdir(), 'arbor-pki-'))): TestCa {
  const certFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'ca.key');
  openssl(
    [
      'req',
      '-x509',
      ...EC_KEY,
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  return { dir, certFile, keyFile };
}

/**
 * A certificate signed by `ca`. `ips` become IP SANs (a server certificate for 127.0.0.1);
 * without them it is a plain signing certificate.
 */
export function issueCertificate(ca: TestCa, name: string, ips: string[] = []): IssuedCertificate {
  const base = join(ca.dir, name.replace(/[^A-Za-z0-9.-]/g, '_'));
  const keyFile = `${base}.key`;
  const csrFile = `${base}.csr`;
  const certFile = `${base}.crt`;
  const extFile = `${base}.ext`;
  const ext = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment'];
  if (ips.length > 0) {
    ext.push(`subjectAltName=${ips.map((ip) => `IP:${ip}`).join(',')}`, 'extendedKeyUsage=serverAuth');
  }
  writeFileSync(extFile, `${ext.join('\n')}\n`);
  openssl(['req', '-new', ...EC_KEY, '-keyout', keyFile, '-out', csrFile, '-subj', `/CN=${name}`], ca.dir);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      csrFile,
      '-CA',
      ca.certFile,
      '-CAkey',
      ca.keyFile,
      '-CAcreateserial',
      '-out',
      certFile,
      '-days',
      '2',
      '-extfile',
      extFile,
    ],
    ca.dir,
  );
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

/** A CA and a server certificate for 127.0.0.1, the usual need of a TLS test. */
export function createServerPki(): { ca: TestCa; server: IssuedCertificate } {
  const ca = createCa();
  return { ca, server: issueCertificate(ca, '127.0.0.1', ['127.0.0.1']) };
}
