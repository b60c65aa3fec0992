// Builds the inbox into dist/: one minified ES module, the stylesheet and the page. Prints the
// sizes (raw and gzipped) so that growth shows in every build.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const out = new URL('./dist/', import.meta.url).pathname;
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ['src/main.jsx'],
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2020',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outfile: `${out}app.js`,
  logLevel: 'warning',
});
copyFileSync('src/index.html', `${out}index.html`);
copyFileSync('src/app.css', `${out}app.css`);
for (const f of ['app.js', 'app.css', 'index.html']) {
  const bytes = readFileSync(out + f);
  console.log(`web/dist/${f}: ${statSync(out + f).size} bytes, ${gzipSync(bytes).length} gzipped`);
}
