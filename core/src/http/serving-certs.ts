import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { generateServingCerts } from './serving-cert-generation.js';

export interface ServingCerts {
  caCertPem: string;
  certPem: string;
  keyPem: string;
}


/** Loads the serving certificates from `<dataDir>/pki`, making them on first start. */
export async function loadOrCreateServingCerts(dataDir: string | undefined, extraHosts: string[] = []): Promise<ServingCerts> {
  const hosts = ['127.0.0.1', 'localhost', '::1', hostname(), ...extraHosts];
  if (!dataDir) return generateServingCerts(hosts);
  const dir = join(dataDir, 'pki');
  const files = { caCertPem: join(dir, 'ca.crt'), certPem: join(dir, 'serving.crt'), keyPem: join(dir, 'serving.key') };
  if (Object.values(files).every((f) => existsSync(f))) {
    return { caCertPem: readFileSync(files.caCertPem, 'utf8'), certPem: readFileSync(files.certPem, 'utf8'), keyPem: readFileSync(files.keyPem, 'utf8') };
  }
  const certs = await generateServingCerts(hosts);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(files.caCertPem, certs.caCertPem);
  writeFileSync(files.certPem, certs.certPem);
  writeFileSync(files.keyPem, certs.keyPem, { mode: 0o600 });
  return certs;
}
