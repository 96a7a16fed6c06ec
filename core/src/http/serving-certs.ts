import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';

export interface ServingCerts {
  caCertPem: string;
  certPem: string;
  keyPem: string;
}

// kubectl only sends credentials over TLS, so the core serves HTTPS too, with a CA of its own
// made at first start (node-forge builds the certificates; node:crypto makes the keys fast).

function rsaKeyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKey: forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()),
    publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
  };
}

function certificate(subjectCn: string, publicKey: forge.pki.PublicKey, years: number) {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + years * 365 * 24 * 3600 * 1000);
  cert.setSubject([{ name: 'commonName', value: subjectCn }, { name: 'organizationName', value: 'Mortise' }]);
  return cert;
}

export function generateServingCerts(hosts: string[]): ServingCerts {
  const ca = rsaKeyPair();
  const caCert = certificate('mortise-ca', ca.publicKey, 10);
  caCert.setIssuer(caCert.subject.attributes);
  caCert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  caCert.sign(ca.privateKey, forge.md.sha256.create());

  const leaf = rsaKeyPair();
  const cert = certificate('mortise-core', leaf.publicKey, 2);
  cert.setIssuer(caCert.subject.attributes);
  const altNames = [...new Set(hosts)].map((h) => (/^[\d.]+$/.test(h) || h.includes(':') ? { type: 7, ip: h } : { type: 2, value: h }));
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
  ]);
  cert.sign(ca.privateKey, forge.md.sha256.create());
  return {
    caCertPem: forge.pki.certificateToPem(caCert),
    certPem: forge.pki.certificateToPem(cert),
    keyPem: forge.pki.privateKeyToPem(leaf.privateKey),
  };
}

/** Loads the serving certificates from `<dataDir>/pki`, making them on first start. */
export function loadOrCreateServingCerts(dataDir: string | undefined, extraHosts: string[] = []): ServingCerts {
  const hosts = ['127.0.0.1', 'localhost', '::1', hostname(), ...extraHosts];
  if (!dataDir) return generateServingCerts(hosts);
  const dir = join(dataDir, 'pki');
  const files = { caCertPem: join(dir, 'ca.crt'), certPem: join(dir, 'serving.crt'), keyPem: join(dir, 'serving.key') };
  if (Object.values(files).every((f) => existsSync(f))) {
    return { caCertPem: readFileSync(files.caCertPem, 'utf8'), certPem: readFileSync(files.certPem, 'utf8'), keyPem: readFileSync(files.keyPem, 'utf8') };
  }
  const certs = generateServingCerts(hosts);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(files.caCertPem, certs.caCertPem);
  writeFileSync(files.certPem, certs.certPem);
  writeFileSync(files.keyPem, certs.keyPem, { mode: 0o600 });
  return certs;
}
