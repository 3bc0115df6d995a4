// Part of `npm run build`: compiles the native connection layer (native/pkgindex_io.cc, ADR
// 0019, `--io native`) against the headers of the Node that runs this script, into
// dist/src/native/ (shipped with the package). Nothing is downloaded: it needs a C++ compiler ($CXX, else
// g++) and Node's headers (<prefix>/include/node, Debian's nodejs package has them). Without
// either it says so and the build goes on: the server then serves with --io node, and
// `pkgindex serve --io native` warns and falls back.
//   node dist/scripts/build-native.js
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

const SOURCE = 'native/pkgindex_io.cc';
const TARGET = 'dist/src/native/pkgindex_io.node';

function headers(): string | null {
  const candidates = [
    process.env.PKGINDEX_NODE_HEADERS,
    join(dirname(process.execPath), '..', 'include', 'node'),
    '/usr/include/node',
  ];
  for (const dir of candidates) if (dir !== undefined && existsSync(join(dir, 'node_api.h'))) return dir;
  return null;
}

const include = headers();
if (include === null) {
  console.warn(
    `build-native: no node_api.h beside this Node (${process.execPath}); --io native is not built ` +
      '(set PKGINDEX_NODE_HEADERS to the directory of node_api.h)',
  );
} else {
  const compiler = process.env.CXX ?? 'g++';
  mkdirSync(dirname(TARGET), { recursive: true });
  const partial = `${TARGET}.${process.pid}.tmp`;
  try {
    execFileSync(
      compiler,
      [
        '-O2',
        '-std=c++17',
        '-Wall',
        '-Wextra',
        '-Werror',
        '-fPIC',
        '-shared',
        '-pthread',
        `-I${include}`,
        '-o',
        partial,
        SOURCE,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    renameSync(partial, TARGET);
  } catch (err) {
    rmSync(partial, { force: true });
    console.warn(
      `build-native: ${compiler} could not build ${SOURCE}; --io native is not built: ${String(err)}`,
    );
  }
}
