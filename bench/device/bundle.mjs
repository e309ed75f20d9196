// Bundles the fcnc CLI (bench/device/entry.ts and everything it imports, TypeScript and npm packages alike) into one
// ES module with esbuild (the copy tsx ships), for bench/device.sh. Native packages stay outside the bundle and are
// copied beside it by bench/device.sh pack: `webgpu` (Dawn) and `@resvg/resvg-js` (PNG charts). Prettier is left
// out (see noPrettier).
//
// fcnc's sources find some files relative to themselves (`import.meta.url`: JSON schemas, package.json, the runtime
// folder): in the bundle those expressions are rewritten to the same path under the checkout's root, taken at run
// time from FCNC_ROOT (default: the current directory) — the bundle runs beside a checkout, not inside it.
// `createRequire(import.meta.url)` is left alone: it resolves npm packages (the DejaVu fonts), which sit in the
// node_modules folder beside the bundle.
//
// With --no-png, resvg is left out too: the bundle runs without it, and writing a PNG chart fails with a message.
//
// Usage: node bench/device/bundle.mjs OUT.mjs [--no-png]
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const [out, flag] = process.argv.slice(2);
const png = flag !== '--no-png';
if (!out || (flag !== undefined && png)) {
  console.error('usage: node bench/device/bundle.mjs OUT.mjs [--no-png]');
  process.exit(2);
}

const rootRelative = {
  name: 'root-relative',
  setup(b) {
    b.onLoad({ filter: /\.(ts|mts|js|mjs)$/ }, async (args) => {
      const rel = relative(ROOT, args.path).split(sep).join('/');
      if (rel.startsWith('..') || rel.split('/').includes('node_modules')) return undefined;
      let text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta')) return undefined;
      const url = `new URL(${JSON.stringify(rel)}, globalThis.__fcncRoot).href`;
      const dir = `require('node:url').fileURLToPath(new URL(${JSON.stringify(dirname(rel) + '/')}, globalThis.__fcncRoot)).replace(/[\\\\/]$/, '')`;
      text = text
        .replaceAll('createRequire(import.meta.url)', 'createRequire(__FCNC_KEEP_URL__)')
        .replaceAll('import.meta.dirname', `(${dir})`)
        .replaceAll('import.meta.url', `(${url})`)
        .replaceAll('__FCNC_KEEP_URL__', 'import.meta.url');
      return { contents: text, loader: args.path.endsWith('ts') ? 'ts' : 'js' };
    });
  },
};

// Prettier (5 MB bundled) only formats the sources `fcnc compile` writes: not needed to bench or profile.
const noPrettier = {
  name: 'no-prettier',
  setup(b) {
    b.onResolve({ filter: /^prettier$/ }, () => ({ path: 'prettier', namespace: 'fcnc-left-out' }));
    b.onLoad({ filter: /^prettier$/, namespace: 'fcnc-left-out' }, () => ({
      contents:
        "export async function format() { throw new Error('this build of fcnc (bench/device.sh) has no prettier: fcnc compile is not available'); }",
      loader: 'js',
    }));
  },
};

const noResvg = {
  name: 'no-resvg',
  setup(b) {
    b.onResolve({ filter: /^@resvg\/resvg-js$/ }, () => ({ path: 'resvg', namespace: 'fcnc-left-out' }));
    b.onLoad({ filter: /^resvg$/, namespace: 'fcnc-left-out' }, () => ({
      contents:
        "export async function renderAsync() { throw new Error('this build of fcnc (bench/device.sh, no PNG) has no resvg: PNG charts are not available'); }",
      loader: 'js',
    }));
  },
};

const r = await build({
  entryPoints: [join(ROOT, 'bench', 'device', 'entry.ts')],
  outfile: out,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  external: png ? ['webgpu', '@resvg/resvg-js'] : ['webgpu'],
  plugins: [rootRelative, noPrettier, ...(png ? [] : [noResvg])],
  banner: {
    js: [
      "import { createRequire as __fcncCreateRequire } from 'node:module';",
      "import { pathToFileURL as __fcncToUrl } from 'node:url';",
      'const require = __fcncCreateRequire(import.meta.url);',
      "globalThis.__fcncRoot = __fcncToUrl((process.env.FCNC_ROOT || process.cwd()).replace(/\\/?$/, '/')).href;",
    ].join('\n'),
  },
  logLevel: 'warning',
  metafile: true,
});
const bytes = Object.values(r.metafile.outputs).reduce((s, o) => s + o.bytes, 0);
console.log(`bundled ${Object.keys(r.metafile.inputs).length} files into ${out} (${bytes} bytes)`);
