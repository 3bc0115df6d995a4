/**
 * `--log-pretty`: the server logs for a human at a terminal (pino-pretty, coloured) instead of
 * JSON lines, through the same levels; a real `pkgindex serve` child, its stdout read.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { CLI } from '../support/servers.js';
import { LineClient } from '../support/line-client.js';

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

test('--log-pretty: readable, coloured lines, not JSON; the port still logged', async () => {
  const child = spawn(process.execPath, [
    CLI,
    'serve',
    '--log-pretty',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--storage',
    'memory',
    '--admin=false',
  ]);
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no listening line in ${JSON.stringify(out)}`));
      }, 20_000);
      child.stdout.setEncoding('utf8').on('data', (text: string) => {
        out += text;
        const m = /listening[^\n]*\n(?:[^\n]*\n)*?[^\n]*port[^\d]*(\d+)/.exec(out.replace(ANSI, ''));
        if (m !== null) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
    });
    const client = await LineClient.open(port);
    assert.deepEqual(await client.request('INDEX|a|'), ['OK']);
    client.socket.end();
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0);
  assert.match(out, ANSI, 'coloured');
  const plain = out.replace(ANSI, '');
  assert.match(plain, /INFO \(pkgindex(?:\/\d+)?\): listening\n {4}host: "127\.0\.0\.1"\n {4}port: \d+/);
  assert.match(plain, /: stopped/);
  for (const line of plain.split('\n'))
    assert.ok(!line.startsWith('{'), `a JSON line in pretty mode: ${line}`);
});
