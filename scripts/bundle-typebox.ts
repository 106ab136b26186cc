// Bundles TypeBox into one module of dist and points the built code at it: a step of `npm run
// build`, after tsc.
//
// Why: TypeBox 1.x ships as about 700 small ES modules, and Node.js resolves, reads and links each
// one. Importing `typebox` and `typebox/compile` took 0.45-0.6 s of CPU at every start of a device
// process and of every `triledger` command, half of each start; the same code as one file loads in
// under a tenth of that. The source keeps importing `typebox` (its types, and the tests that run
// the source); only the JavaScript in dist changes, and its declaration files still name `typebox`,
// which stays a dependency.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const bundlePath = join(dist, 'vendor', 'typebox.js');

/** The entry points of TypeBox the code imports; each is an export of the bundle. */
const bundleEntry = `export * from 'typebox';
export { default } from 'typebox';
export { Compile } from 'typebox/compile';
`;
const typeboxImport = /\bfrom (['"])typebox(\/compile)?\1/g;
/** TypeBox's MIT license, which asks that its notice go with every copy: the bundle opens with it. */
const licenseNotice = readFileSync(join(root, 'node_modules', 'typebox', 'license'), 'utf8');

function builtModules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'vendor' ? [] : builtModules(path);
    return entry.name.endsWith('.js') ? [path] : [];
  });
}

await build({
  stdin: { contents: bundleEntry, resolveDir: root, loader: 'js', sourcefile: 'typebox-entry.js' },
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outfile: bundlePath,
  logLevel: 'warning',
  banner: { js: `/*\n${licenseNotice.replaceAll('*/', '* /').trimEnd()}\n*/` },
});

for (const path of builtModules(dist)) {
  const code = readFileSync(path, 'utf8');
  let target = relative(dirname(path), bundlePath);
  if (!target.startsWith('.')) target = `./${target}`;
  const rewritten = code.replace(
    typeboxImport,
    (_match, quote: string) => `from ${quote}${target}${quote}`,
  );
  if (rewritten !== code) writeFileSync(path, rewritten);
}
// Read back: no built module imports the package itself any more, some import the bundle (tsc
// may have left earlier files, already pointed at it, unchanged), and every name they import is
// one the bundle exports (a name it lacks would stop the module from loading, not the build).
const sources = builtModules(dist).map((path) => [path, readFileSync(path, 'utf8')] as const);
const left = sources.filter(([, code]) => code.match(typeboxImport) !== null);
const importers = sources.filter(([, code]) => code.includes('vendor/typebox.js'));
if (left.length > 0 || importers.length === 0)
  throw new Error(
    `bundle-typebox: ${importers.length} modules import the bundle; still importing typebox: ${left.map(([path]) => path).join(', ')}`,
  );
const exported = new Set(Object.keys(await import(pathToFileURL(bundlePath).href)));
const bundleImport = /\bimport\s+([^;]*?)\s+from\s+['"][^'"]*vendor\/typebox\.js['"]/g;
const lacking = importers.flatMap(([path, code]) =>
  [...code.matchAll(bundleImport)]
    .flatMap(([, clause]) => importedNames(clause!))
    .filter((name) => !exported.has(name))
    .map((name) => `${path}: ${name}`),
);
if (lacking.length > 0)
  throw new Error(`bundle-typebox: the bundle does not export ${lacking.join(', ')}`);

/** The names an import clause takes: `default` for a default import, each named one; none for `* as`. */
function importedNames(clause: string): string[] {
  if (clause.startsWith('*')) return [];
  const named = /\{([^}]*)\}/.exec(clause)?.[1] ?? '';
  const defaultName = clause
    .replace(/\{[^}]*\}/, '')
    .replace(',', '')
    .trim();
  return [
    ...(defaultName === '' ? [] : ['default']),
    ...named
      .split(',')
      .map((part) => part.trim().split(/\s+as\s+/)[0]!)
      .filter((name) => name !== ''),
  ];
}
