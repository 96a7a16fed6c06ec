import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { generateServingCerts } from '../src/http/serving-cert-generation.js';
import { ipAddressBytes, namedBits, objectIdentifier, time, unsignedInteger } from '../src/http/der.js';
import { LogBuffer } from '../src/ops/log-buffer.js';
import { startTestCore, type TestCore } from './support/test-core.js';

// What a start does before /readyz (docs/benchmarks.md "Start"): every phase, in order, logged
// once; and the serving certificates it makes on a fresh data dir, checked by real TLS clients
// (kubectl and client-node in kubectl.test.ts, node:tls and OpenSSL's parser here).

describe('DER encodings', () => {
  it('encode what X.690 says for the values a certificate holds', () => {
    expect(objectIdentifier('1.2.840.10045.4.3.2').toString('hex')).toBe('06082a8648ce3d040302');
    expect(unsignedInteger(Buffer.from([0x80])).toString('hex')).toBe('02020080');
    expect(unsignedInteger(Buffer.from([0, 0, 5])).toString('hex')).toBe('020105');
    // keyCertSign + cRLSign + digitalSignature: bits 0, 5, 6, one unused bit.
    expect(namedBits([0, 5, 6]).toString('hex')).toBe('03020186');
    expect(namedBits([0]).toString('hex')).toBe('03020780');
    expect(time(new Date('2036-01-02T03:04:05.678Z')).toString()).toContain('360102030405Z');
    expect(time(new Date('2051-01-02T03:04:05Z')).toString()).toContain('20510102030405Z');
    expect(ipAddressBytes('10.0.0.1').toString('hex')).toBe('0a000001');
    expect(ipAddressBytes('::1').toString('hex')).toBe(`${'0'.repeat(30)}01`);
    expect(ipAddressBytes('fe80::1:2').toString('hex')).toBe('fe800000000000000000000000010002');
    expect(ipAddressBytes('::ffff:10.1.2.3').toString('hex')).toBe('00000000000000000000ffff0a010203');
  });
});

describe('serving certificates', () => {
  it('are a CA and a server certificate it signed, for every host name and address', async () => {
    const certs = await generateServingCerts(['127.0.0.1', 'localhost', '::1', 'core.example', '127.0.0.1']);
    const ca = new X509Certificate(certs.caCertPem);
    const leaf = new X509Certificate(certs.certPem);
    expect(ca.ca).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.subjectAltName).toBe('IP Address:127.0.0.1, DNS:localhost, IP Address:0:0:0:0:0:0:0:1, DNS:core.example');
    expect(leaf.checkHost('core.example')).toBe('core.example');
    expect(leaf.checkIP('::1')).toBe('::1');
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(leaf.publicKey.asymmetricKeyType).toBe('ec');
    expect(new Date(leaf.validTo).getTime()).toBeGreaterThan(Date.now() + 365 * 24 * 3600 * 1000);
  });
});

describe('a start', () => {
  const cores: TestCore[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'mortise-start-'));
  afterAll(async () => {
    await Promise.all(cores.map((c) => c.close()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The `core.started` lines the core writes to its log buffer from now on. */
  const startedLines = (buffer: LogBuffer) => {
    const lines: Array<Record<string, unknown>> = [];
    buffer.on('line', (l: { line: string }) => {
      const parsed = JSON.parse(l.line) as Record<string, unknown>;
      if (parsed.event === 'core.started') lines.push(parsed);
    });
    return lines;
  };

  it('logs its phases once, on a fresh data dir and again on the same one', async () => {
    for (const run of ['fresh', 'warm']) {
      const logBuffer = new LogBuffer();
      const lines = startedLines(logBuffer);
      const t = await startTestCore({ dataDir, logBuffer });
      cores.push(t);
      expect(lines, run).toHaveLength(1);
      const { phases, ms } = lines[0] as { phases: Record<string, number>; ms: number };
      expect(Object.keys(phases), run).toEqual(['store', 'kinds', 'users', 'rbac-index', 'gateway', 'extension-admission', 'crds', 'seed', 'routes', 'keys-and-certs', 'listen', 'controllers']);
      expect(Object.values(phases).every((v) => Number.isInteger(v) && v >= 0), run).toBe(true);
      expect(ms, run).toBe(Object.values(phases).reduce((a, b) => a + b, 0));
      // The fresh start made the certificates and the seeded objects; the warm one reads them back.
      const res = await t.api('/apis/iam.mortise.io/v1alpha1/globalroles');
      expect(res.status).toBe(200);
      expect(((await res.json()) as { items: unknown[] }).items.length).toBeGreaterThan(0);
      expect((await t.api('/api/v1/namespaces/default')).status).toBe(200);
      await t.close();
      cores.pop();
    }
    expect(existsSync(join(dataDir, 'pki', 'serving.key'))).toBe(true);
  });

  it('serves TLS with the certificates it made, which a client checks against the CA', async () => {
    const t = await startTestCore({ dataDir });
    cores.push(t);
    expect(t.core.certs.caCertPem).toBe(readFileSync(join(dataDir, 'pki', 'ca.crt'), 'utf8'));
    const port = Number(new URL(t.httpsUrl).port);
    for (const servername of ['localhost', undefined]) {
      const peer = await new Promise<X509Certificate>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port, servername, ca: t.core.certs.caCertPem, checkServerIdentity: () => undefined }, () => {
          resolve(socket.getPeerX509Certificate()!);
          socket.end();
        });
        socket.once('error', reject);
      });
      expect(peer.subject).toContain('CN=mortise-core');
    }
  });
});
