// Part of `npm run build`, after tsc: puts the dashboard's static files beside its compiled
// scripts in dist/src/admin/dashboard/web/ (where the admin server serves them from), with
// uPlot and cytoscape.js copied from their npm packages and their licences, so that the page
// works offline and ships in the package (package.json `files`: dist/src).
//   node dist/scripts/dashboard-assets.js
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const SOURCE = 'src/admin/dashboard/web';
const TARGET = 'dist/src/admin/dashboard/web';
const STATIC = ['.html', '.css'];

/** From each package: the files the page loads, and the licence that must go with them. */
const VENDOR: Readonly<Record<string, readonly string[]>> = {
  uplot: ['dist/uPlot.iife.min.js', 'dist/uPlot.min.css', 'LICENSE'],
  cytoscape: ['dist/cytoscape.esm.min.mjs', 'LICENSE'],
};

mkdirSync(join(TARGET, 'vendor'), { recursive: true });
for (const name of readdirSync(SOURCE))
  if (STATIC.some((ext) => name.endsWith(ext))) copyFileSync(join(SOURCE, name), join(TARGET, name));
for (const [pkg, files] of Object.entries(VENDOR)) {
  const root = join('node_modules', pkg);
  for (const file of files) {
    const base = file.split('/').pop()!;
    copyFileSync(join(root, file), join(TARGET, 'vendor', base === 'LICENSE' ? `${pkg}.LICENSE.txt` : base));
  }
}
