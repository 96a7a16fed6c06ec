import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import {
  bitString, boolean, explicit, implicit, ipAddressBytes, namedBits, objectIdentifier, octetString, pem, sequence, set,
  smallInteger, time, unsignedInteger, utf8String,
} from './der.js';
import type { ServingCerts } from './serving-certs.js';

// kubectl only sends credentials over TLS, so the core serves HTTPS too, with a CA of its own
// made at first start. ECDSA P-256 keys: node:crypto makes one in well under a millisecond (an
// RSA-2048 pair took 100 ms to seconds, the longest part of a first start), and every TLS client
// the core meets (Go's kubectl, Node's client-node, browsers) accepts them. The certificates are
// laid out in DER here (der.ts) and signed by node:crypto (RFC 5280).

const oid = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};

/** RFC 5280 §4.2.1.3 bit positions. */
const keyUsageBit = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 };

interface Party {
  name: Buffer;
  privateKey: KeyObject;
  spki: Buffer;
  keyId: Buffer;
}

function party(commonName: string): Party {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const attribute = (type: string, value: string) => set(sequence(objectIdentifier(type), utf8String(value)));
  return {
    name: sequence(attribute(oid.commonName, commonName), attribute(oid.organization, 'Mortise')),
    privateKey, spki,
    // RFC 5280 §4.2.1.2 (1) takes the SHA-1 of the key's bits; any stable unique value will do.
    keyId: createHash('sha1').update(spki).digest(),
  };
}

const extension = (id: string, critical: boolean, value: Buffer) =>
  sequence(objectIdentifier(id), ...(critical ? [boolean(true)] : []), octetString(value));

function certificate(subject: Party, issuer: Party, years: number, extensions: Buffer[]): string {
  const algorithm = sequence(objectIdentifier(oid.ecdsaWithSha256));
  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(Buffer.concat([Buffer.from([1]), randomBytes(15)])),
    algorithm,
    issuer.name,
    sequence(time(new Date(Date.now() - 60_000)), time(new Date(Date.now() + years * 365 * 24 * 3600 * 1000))),
    subject.name,
    subject.spki,
    explicit(3, sequence(...extensions,
      extension(oid.subjectKeyIdentifier, false, octetString(subject.keyId)),
      ...(issuer === subject ? [] : [extension(oid.authorityKeyIdentifier, false, sequence(implicit(0, issuer.keyId)))]))),
  );
  const signature = sign('sha256', tbs, { key: issuer.privateKey, dsaEncoding: 'der' });
  return pem('CERTIFICATE', sequence(tbs, algorithm, bitString(signature)));
}

export async function generateServingCerts(hosts: string[]): Promise<ServingCerts> {
  const ca = party('mortise-ca');
  const leaf = party('mortise-core');
  const caCertPem = certificate(ca, ca, 10, [
    extension(oid.basicConstraints, true, sequence(boolean(true))),
    extension(oid.keyUsage, true, namedBits([keyUsageBit.digitalSignature, keyUsageBit.keyCertSign, keyUsageBit.cRLSign])),
  ]);
  // GeneralName: dNSName [2] IA5String, iPAddress [7] OCTET STRING.
  const altNames = [...new Set(hosts)].map((h) => (isIP(h) ? implicit(7, ipAddressBytes(h)) : implicit(2, Buffer.from(h, 'ascii'))));
  const certPem = certificate(leaf, ca, 2, [
    extension(oid.basicConstraints, false, sequence()),
    extension(oid.keyUsage, true, namedBits([keyUsageBit.digitalSignature])),
    extension(oid.extKeyUsage, false, sequence(objectIdentifier(oid.serverAuth))),
    extension(oid.subjectAltName, false, sequence(...altNames)),
  ]);
  return { caCertPem, certPem, keyPem: leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}
