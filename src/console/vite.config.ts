// Builds the operator console (/console) and the browser wallet (/wallet) into dist/console, which
// the transaction device serves. `npm run build` runs it after the TypeScript build.
import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: '/console/',
  plugins: [preact()],
  logLevel: 'warn',
  build: {
    outDir: here('../../dist/console'),
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: { input: { console: here('index.html'), wallet: here('wallet.html') } },
  },
});
