import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { createLogger } from '../../src/observability/logger.js';
import { LineClient } from '../support/line-client.js';
import { exchange, spawnServe, startChild, stopChild, type LogEvent } from '../admin/harness.js';

const TOKEN = 'log-test-token-do-not-print-0123456789';

function event(events: LogEvent[], msg: string): LogEvent {
  const found = events.find((e) => e.msg === msg);
  assert.ok(found, `no "${msg}" event in ${JSON.stringify(events.map((e) => e.msg))}`);
  return found;
}

describe('server logs (spawned server, stdout parsed)', () => {
  // The native connection layer (the default, --io auto, where it is built) and Node's sockets
  // log alike.
  for (const [io, label] of [
    [['--io', 'native'], '--io native'],
    [['--io', 'node'], '--io node'],
  ] as const) {
    test(`one JSON event per connection, startup and shutdown; nothing per command at info; no token (${label})`, async () => {
      const child = await startChild([...io], { PKGINDEX_ADMIN_TOKEN: TOKEN });
      let code: number | null;
      let localPort: number | undefined;
      try {
        const client = await LineClient.open(child.port);
        localPort = client.socket.localPort;
        assert.deepEqual(await client.request('INDEX|a|', 'INDEX|b|a', 'QUERY|b|', 'BAD'), [
          'OK',
          'OK',
          'OK',
          'ERROR',
        ]);
        client.socket.end();
        await child.waitFor((e) => e.msg === 'connection closed');
      } finally {
        code = await stopChild(child);
      }
      assert.equal(code, 0);
      // Every stdout line parsed as JSON in the harness; each carries time, level, msg.
      const events = child.events;
      for (const e of events) {
        assert.equal(typeof e.time, 'string');
        assert.ok(!Number.isNaN(Date.parse(e.time as string)));
        assert.equal(typeof e.level, 'number');
        assert.equal(e.name, 'pkgindex');
      }
      assert.ok(!child.stdout().includes(TOKEN), 'the admin token must never be logged');

      const starting = event(events, 'starting');
      const config = starting.config as Record<string, unknown>;
      assert.equal(config.port, 0);
      assert.equal(config.adminHost, '127.0.0.1');
      assert.equal(starting.adminAuth, true);
      assert.equal(event(events, 'admin listening').port, child.adminPort);
      assert.equal(event(events, 'listening').port, child.port);

      const opened = event(events, 'connection opened');
      const closed = event(events, 'connection closed');
      assert.equal(opened.conn, closed.conn);
      assert.equal(opened.peer, `127.0.0.1:${localPort}`);
      assert.equal(closed.peer, opened.peer);
      assert.equal(closed.commands, 4);
      assert.equal(typeof closed.durationMs, 'number');

      assert.equal(event(events, 'signal received').signal, 'SIGTERM');
      assert.equal(event(events, 'shutting down').connections, 0);
      assert.equal(event(events, 'shutting down').connectionsServed, 1);
      event(events, 'stopped');
      // Nothing per protocol command at the default level.
      assert.equal(events.filter((e) => e.msg === 'command' || e.msg === 'malformed line').length, 0);
      assert.ok(events.every((e) => e.level >= 30));
    });

    test(`at debug level each command is logged with its connection id (${label})`, async () => {
      const child = await startChild([...io, '--log-level', 'debug']);
      try {
        await exchange(child.port, ['INDEX|a|', 'nonsense']);
        await child.waitFor((e) => e.msg === 'connection closed');
      } finally {
        await stopChild(child);
      }
      const conn = event(child.events, 'connection opened').conn;
      const command = event(child.events, 'command');
      assert.equal(command.conn, conn);
      assert.equal(command.verb, 'INDEX');
      assert.equal(command.pkg, 'a');
      const malformed = event(child.events, 'malformed line');
      assert.equal(malformed.conn, conn);
      assert.equal(malformed.error, 'E_FIELD_COUNT');
    });
  }

  test('a failed start is one JSON fatal event on stdout as well as a line on stderr', async () => {
    // Before the configured logger exists (a bad setting), and after (the admin port is taken).
    const first = spawnServe(['--host', '127.0.0.1', '--port', '0', '--admin-port', '0']);
    try {
      const adminPort = (await first.waitFor((e) => e.msg === 'admin listening')).port as number;
      const cases: [string[], string, RegExp][] = [
        [['--port', 'eighty'], 'E_CONFIG', /--port must be a whole number/],
        [['--host', '127.0.0.1', '--port', '0', '--admin-port', String(adminPort)], 'E_LISTEN', /admin HTTP/],
      ];
      for (const [args, code, message] of cases) {
        const child = spawnServe(args);
        assert.equal(await child.exited, 2);
        assert.match(child.stderr(), message);
        const fatal = child.events.filter((e) => e.level === 60);
        assert.equal(fatal.length, 1, JSON.stringify(child.events));
        assert.equal(fatal[0]!.msg, 'startup failed');
        const err = fatal[0]!.err as { code: string; message: string };
        assert.equal(err.code, code);
        assert.match(err.message, message);
        assert.equal(child.events.at(-1), fatal[0], 'the last event');
      }
    } finally {
      first.process.kill('SIGTERM');
      assert.equal(await first.exited, 0);
    }
  });

  test('a crash leaves a fatal JSON event with the stack before the process exits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pkgindex-crash-'));
    try {
      const crash = join(dir, 'crash.cjs');
      // Throws once serve has installed its handlers (a crash before the logger exists is only on stderr).
      writeFileSync(
        crash,
        "const t = setInterval(() => { if (process.listenerCount('uncaughtExceptionMonitor') > 0) { clearInterval(t); throw new Error('injected crash'); } }, 1);\n",
      );
      const child = spawnServe(['--host', '127.0.0.1', '--port', '0', '--admin-port', '0'], {
        NODE_OPTIONS: `--require ${crash}`,
      });
      assert.equal(await child.exited, 1);
      const last = child.events.at(-1);
      assert.equal(last?.msg, 'uncaught exception; exiting');
      assert.equal(last.level, 60);
      assert.match((last.err as { stack: string }).stack, /injected crash/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('createLogger', () => {
  function capture(options: Parameters<typeof createLogger>[0]): {
    lines: () => LogEvent[];
    log: ReturnType<typeof createLogger>;
  } {
    let text = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        text += chunk.toString('utf8');
        done();
      },
    });
    const log = createLogger(options, sink);
    return {
      log,
      lines: () =>
        text
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as LogEvent),
    };
  }

  test('--quiet keeps only warnings and errors, whatever --log-level says', () => {
    const { log, lines } = capture({ level: 'debug', quiet: true, pretty: false });
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    assert.deepEqual(
      lines().map((e) => e.msg),
      ['w', 'e'],
    );
  });

  test('tokens and authorization headers are redacted wherever they appear', () => {
    const { log, lines } = capture({ level: 'info', quiet: false, pretty: false });
    log.info(
      {
        adminToken: 'secret-1',
        config: { adminToken: 'secret-2' },
        req: { headers: { authorization: 'Bearer secret-3' } },
      },
      'x',
    );
    const text = JSON.stringify(lines());
    for (const secret of ['secret-1', 'secret-2', 'secret-3']) assert.ok(!text.includes(secret), secret);
    assert.ok(text.includes('[redacted]'));
  });
});
