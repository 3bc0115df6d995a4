/**
 * A throwaway certificate authority made with the `openssl` CLI for one test run: no private
 * key is checked in. Certificates for the server name 127.0.0.1 and localhost, and for clients.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KeyPair {
  readonly cert: string;
  readonly key: string;
}

export interface TestCa {
  readonly dir: string;
  /** Path of the CA certificate (PEM). */
  readonly caFile: string;
  /** A new key and certificate signed by this CA, written to `<name>.crt` and `<name>.key`. */
  issue(name: string, options?: { server?: boolean }): KeyPair;
  /** PEM text of a file of this CA's directory. */
  read(path: string): string;
  remove(): void;
}

function openssl(dir: string, args: readonly string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Makes a CA (EC P-256, one day) in a new temporary directory. */
export function createTestCa(subject = 'pkgindex test CA'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'pkgindex-ca-'));
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
  openssl(dir, [
    'req',
    '-x509',
    '-new',
    '-key',
    'ca.key',
    '-days',
    '1',
    '-subj',
    `/CN=${subject}`,
    '-out',
    'ca.crt',
  ]);
  let serial = 1;
  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    issue(name, options = {}) {
      const cert = join(dir, `${name}.crt`);
      const key = join(dir, `${name}.key`);
      openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
      openssl(dir, ['req', '-new', '-key', key, '-subj', `/CN=${name}`, '-out', `${name}.csr`]);
      const ext = join(dir, `${name}.ext`);
      writeFileSync(
        ext,
        options.server === false
          ? 'extendedKeyUsage=clientAuth\n'
          : 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
      );
      openssl(dir, [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-set_serial',
        String(serial++),
        '-days',
        '1',
        '-extfile',
        ext,
        '-out',
        cert,
      ]);
      return { cert, key };
    },
    read: (path) => readFileSync(path, 'utf8'),
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
