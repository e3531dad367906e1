#!/usr/bin/env node
// Copies the static part of the technician's page (index.html and the stylesheets) next to the compiled
// scripts: web/index.html -> dist/web/index.html, web/assets/*.css -> dist/web/assets/. tsc writes the scripts.
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const from = join(root, 'web');
const to = join(root, 'dist', 'web');

mkdirSync(join(to, 'assets'), { recursive: true });
copyFileSync(join(from, 'index.html'), join(to, 'index.html'));
let copied = 1;
for (const name of readdirSync(join(from, 'assets'))) {
  if (!name.endsWith('.css')) continue;
  copyFileSync(join(from, 'assets', name), join(to, 'assets', name));
  copied++;
}
if (!existsSync(join(to, 'assets', 'js', 'main.js'))) {
  console.error('build-web: dist/web/assets/js/main.js is missing; run tsc -p tsconfig.web.json first');
  process.exit(1);
}
console.log(`build-web: ${copied} files copied to dist/web`);
