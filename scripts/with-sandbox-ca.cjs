#!/usr/bin/env node
// Generates the sandbox CA and TLS leaf certificate (if missing or near expiry) and then runs the given command
// with NODE_EXTRA_CA_CERTS pointing at the CA. Node reads NODE_EXTRA_CA_CERTS only at start-up, so the CA must exist
// before the process that trusts it starts (runtime-and-testing.md section 8; microsoft-apis.md section 7.3).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawn } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const dir = path.join(root, '.sandbox', 'tls');
const files = { caCert: 'ca.pem', caKey: 'ca-key.pem', cert: 'server.pem', key: 'server-key.pem' };
const p = (k) => path.join(dir, files[k]);

function valid() {
  try {
    for (const k of Object.keys(files)) fs.accessSync(p(k));
    const leaf = new crypto.X509Certificate(fs.readFileSync(p('cert')));
    const ca = new crypto.X509Certificate(fs.readFileSync(p('caCert')));
    const weekAhead = Date.now() + 7 * 24 * 3600 * 1000;
    return (
      leaf.verify(ca.publicKey) &&
      new Date(leaf.validTo).getTime() > weekAhead &&
      leaf.checkIP('127.0.0.1') !== undefined
    );
  } catch {
    return false;
  }
}

async function generate() {
  const selfsigned = require('selfsigned');
  const notBeforeDate = new Date(Date.now() - 24 * 3600 * 1000);
  const notAfterDate = new Date(Date.now() + 365 * 24 * 3600 * 1000);
  const ca = await selfsigned.generate([{ name: 'commonName', value: 'm365-snow-provisioner sandbox CA' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const leaf = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(p('caCert'), ca.cert);
  fs.writeFileSync(p('caKey'), ca.private, { mode: 0o600 });
  fs.writeFileSync(p('cert'), leaf.cert);
  fs.writeFileSync(p('key'), leaf.private, { mode: 0o600 });
}

async function main() {
  if (!valid()) await generate();
  const [cmd, ...args] = process.argv.slice(2);
  if (!cmd) {
    process.stdout.write(p('caCert') + '\n');
    return;
  }
  const env = { ...process.env, NODE_EXTRA_CA_CERTS: p('caCert'), SANDBOX_TLS_DIR: dir };
  const bin = path.join(root, 'node_modules', '.bin', cmd);
  const child = spawn(fs.existsSync(bin) ? bin : cmd, args, { stdio: 'inherit', env });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
