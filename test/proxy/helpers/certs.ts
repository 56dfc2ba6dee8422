/**
 * Test certificates made with the openssl CLI: a CA and leaf certificates with SPIFFE URI SANs
 * (spiffe://cluster.local/ns/default/sa/NAME), as Istio's CA issues them, EC P-256, valid 2 days.
 * Files live in a temporary directory; PEM text is returned too (for inline and SDS secrets).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CertFiles {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface Ca extends CertFiles {
  issue(name: string, sans: string[]): CertFiles;
}

export const spiffe = (sa: string, ns = 'default'): string => `spiffe://cluster.local/ns/${ns}/sa/${sa}`;

const dirs: string[] = [];

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A new CA (its own directory); `issue` signs leaves with the given SANs ("URI:...", "DNS:..."). */
export function makeCa(name: string): Ca {
  const dir = mkdtempSync(join(tmpdir(), `spar-pki-${name}-`));
  dirs.push(dir);
  const certFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'ca.key');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2',
    '-subj', `/O=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  let serial = 1;
  const ca: Ca = {
    certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'),
    issue(leaf: string, sans: string[]): CertFiles {
      const base = join(dir, leaf);
      const ext = `${base}.ext`;
      writeFileSync(ext, `subjectAltName=${sans.join(',')}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n`);
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/O=${name}/CN=${leaf}`]);
      openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', certFile, '-CAkey', keyFile, '-set_serial', String(serial++), '-out', `${base}.crt`, '-days', '2', '-extfile', ext]);
      return { certFile: `${base}.crt`, keyFile: `${base}.key`, cert: readFileSync(`${base}.crt`, 'utf8'), key: readFileSync(`${base}.key`, 'utf8') };
    },
  };
  return ca;
}

/** Removes every directory made by makeCa. */
export function removeCerts(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}
