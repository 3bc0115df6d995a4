import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { OPTIONS, type Option } from '../../src/config/options.js';
import { startChild, stopChild } from '../admin/harness.js';

// No Docker engine or hadolint here: these are static checks of the Dockerfile's key
// properties, plus running what can run without an engine (the healthcheck, the build step).

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

function parse(text: string): Instruction[] {
  const joined = text.replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\S+)\s*(.*)$/.exec(l)!;
      return { keyword: m[1]!.toUpperCase(), args: m[2]!.replace(/\s+/g, ' ') };
    });
}

const instructions = parse(readFileSync('deploy/Dockerfile', 'utf8'));
/** The instructions of the last stage (the image that runs). */
const lastFrom = instructions.map((i) => i.keyword).lastIndexOf('FROM');
const runtime = instructions.slice(lastFrom);
const healthcheck = runtime.find((i) => i.keyword === 'HEALTHCHECK');

describe('deploy/Dockerfile', () => {
  test('is multi-stage, and builds and runs on ubuntu:24.04', () => {
    const froms = instructions.filter((i) => i.keyword === 'FROM').map((i) => i.args);
    assert.ok(froms.length >= 3, `stages: ${froms.join(' | ')}`);
    assert.match(froms.at(-1)!, /^ubuntu:24\.04 AS runtime$/);
    assert.ok(froms.some((f) => /^ubuntu:24\.04 AS build$/.test(f)));
    assert.ok(
      runtime.some((i) => i.keyword === 'COPY' && i.args.startsWith('--from=build')),
      'the runtime stage copies the build output',
    );
  });

  test('runs as a non-root user', () => {
    const users = runtime.filter((i) => i.keyword === 'USER');
    assert.equal(users.length, 1);
    const user = users[0]!.args.split(':')[0]!;
    assert.ok(!['root', '0', ''].includes(user), `USER ${users[0]!.args}`);
    const created = runtime.some(
      (i) => i.keyword === 'RUN' && i.args.includes(`useradd`) && i.args.includes(user),
    );
    assert.ok(created, `the runtime stage creates user ${user}`);
  });

  test('exposes the protocol port only, keeps the admin port on loopback, and starts `pkgindex serve`', () => {
    const exposed = runtime.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(' '));
    // Before: the admin port was exposed and bound to 0.0.0.0 without a token (issue 12).
    assert.deepEqual(exposed, ['8080']);
    const env = runtime
      .filter((i) => i.keyword === 'ENV')
      .map((i) => i.args)
      .join(' ');
    assert.match(env, /PKGINDEX_ADMIN_HOST=127\.0\.0\.1\b/);
    const entrypoint = runtime.find((i) => i.keyword === 'ENTRYPOINT');
    assert.deepEqual(JSON.parse(entrypoint!.args), ['node', '/app/dist/src/cli/main.js']);
    assert.deepEqual(JSON.parse(runtime.find((i) => i.keyword === 'CMD')!.args), ['serve']);
    assert.ok(runtime.some((i) => i.keyword === 'STOPSIGNAL' && i.args === 'SIGTERM'));
  });

  test('sets only environment variables that pkgindex reads', () => {
    const known = new Set<string>(Object.values(OPTIONS as Record<string, Option>).map((o) => o.env));
    const env = runtime
      .filter((i) => i.keyword === 'ENV')
      .flatMap((i) => [...i.args.matchAll(/(\w+)=/g)].map((m) => m[1]!));
    for (const name of env.filter((n) => n.startsWith('PKGINDEX_'))) assert.ok(known.has(name), name);
    assert.equal(
      env.find((n) => n.includes('TOKEN')),
      undefined,
      'no secret baked into the image',
    );
  });

  test('copies only files that exist in the repository', () => {
    const build = instructions.slice(0, lastFrom);
    for (const copy of build.filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))) {
      const sources = copy.args.split(' ').slice(0, -1);
      for (const source of sources) assert.ok(existsSync(source), `COPY ${source}`);
    }
  });

  test('the image holds what the package ships (package.json `files`)', () => {
    const { files } = JSON.parse(readFileSync('package.json', 'utf8')) as { files: string[] };
    const copied = runtime
      .filter((i) => i.keyword === 'COPY')
      .map((i) => i.args.split(' ').at(-1)!.replace(/^\.\//, ''));
    for (const f of files) assert.ok(copied.includes(f), `the runtime stage copies ${f}`);
  });

  test('the HEALTHCHECK uses node, not curl, and its script passes against a live server and fails without one', async () => {
    assert.ok(healthcheck);
    assert.doesNotMatch(healthcheck.args, /curl|wget/);
    const cmd = JSON.parse(healthcheck.args.slice(healthcheck.args.indexOf('CMD ') + 4)) as string[];
    assert.deepEqual(cmd.slice(0, 2), ['node', '-e']);
    const script = cmd[2]!;
    assert.match(script, /\/healthz/);

    const child = await startChild();
    try {
      const ok = spawnSync(process.execPath, ['-e', script], {
        env: { PKGINDEX_ADMIN_PORT: String(child.adminPort) },
      });
      assert.equal(ok.status, 0, ok.stderr.toString());
    } finally {
      await stopChild(child);
    }
    const down = spawnSync(process.execPath, ['-e', script], {
      env: { PKGINDEX_ADMIN_PORT: String(child.adminPort) },
    });
    assert.equal(down.status, 1);
  });

  test('the build stage builds from exactly the files it copies: the server and its native layer', () => {
    // The build stage's own COPY instructions (not --from another stage), which
    // deploy/Dockerfile.dockerignore must let through, then its `npm run build` in that tree.
    const from = instructions.findIndex((i) => i.keyword === 'FROM' && / AS build$/.test(i.args));
    const end = instructions.findIndex((i, at) => at > from && i.keyword === 'FROM');
    const stage = instructions.slice(from, end);
    const sources = stage
      .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(' ').slice(0, -1));
    const allowed = readFileSync('deploy/Dockerfile.dockerignore', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('!'))
      .map((l) => l.slice(1).replace(/\/\*\*$/, ''));
    for (const source of sources) assert.ok(allowed.includes(source), `${source} is in the build context`);
    assert.ok(
      stage.some((i) => i.keyword === 'RUN' && /apt-get install .*\bg\+\+/.test(i.args)),
      'the build stage has a C++ compiler for the native layer',
    );
    assert.ok(
      stage.some((i) => i.keyword === 'COPY' && i.args.includes('/usr/local/include/node')),
      "the build stage has the Node's headers the layer is compiled against",
    );
    const dir = mkdtempSync(join(tmpdir(), 'pkgindex-docker-'));
    try {
      for (const f of sources) cpSync(f, join(dir, f), { recursive: true });
      symlinkSync(resolve('node_modules'), join(dir, 'node_modules'));
      const build = spawnSync('npm', ['run', 'build'], { cwd: dir, encoding: 'utf8' });
      assert.equal(build.status, 0, build.stdout + build.stderr);
      assert.ok(existsSync(join(dir, 'dist/src/cli/main.js')), 'the ENTRYPOINT script is built');
      assert.ok(existsSync(join(dir, 'dist/src/native/pkgindex_io.node')), 'the native layer is built');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
