import { constants, generateKeyPair, privateEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';
import type { ServingCerts } from './serving-certs.js';

// kubectl only sends credentials over TLS, so the core serves HTTPS too, with a CA of its own
// made at first start. node-forge lays out the certificates; node:crypto makes the keys (in the
// thread pool, while the core starts) and signs (natively: forge's JavaScript RSA is slow).

const generateKeyPairAsync = promisify(generateKeyPair);

/** DER prefix of a PKCS#1 v1.5 DigestInfo for SHA-256 (RFC 8017 §9.2, note 1). */
const sha256DigestInfo = Buffer.from('3031300d060960864801650304020105000420', 'hex');

interface KeyPair {
  privateKey: KeyObject;
  publicKey: forge.pki.PublicKey;
  /** What forge's `cert.sign` calls: an RSASSA-PKCS1-v1_5 signature of the digest it hands over. */
  signer: { sign(md: forge.md.MessageDigest): string };
}

async function rsaKeyPair(): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPairAsync('rsa', { modulusLength: 2048 });
  return {
    privateKey,
    publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
    signer: {
      sign(md) {
        const digest = Buffer.from(md.digest().getBytes(), 'binary');
        return privateEncrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([sha256DigestInfo, digest])).toString('binary');
      },
    },
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

export async function generateServingCerts(hosts: string[]): Promise<ServingCerts> {
  const [ca, leaf] = await Promise.all([rsaKeyPair(), rsaKeyPair()]);
  const caCert = certificate('mortise-ca', ca.publicKey, 10);
  caCert.setIssuer(caCert.subject.attributes);
  caCert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  caCert.sign(ca.signer as unknown as forge.pki.rsa.PrivateKey, forge.md.sha256.create());

  const cert = certificate('mortise-core', leaf.publicKey, 2);
  cert.setIssuer(caCert.subject.attributes);
  const altNames = [...new Set(hosts)].map((h) => (/^[\d.]+$/.test(h) || h.includes(':') ? { type: 7, ip: h } : { type: 2, value: h }));
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
  ]);
  cert.sign(ca.signer as unknown as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return {
    caCertPem: forge.pki.certificateToPem(caCert),
    certPem: forge.pki.certificateToPem(cert),
    keyPem: leaf.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
  };
}
