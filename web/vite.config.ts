import { defineConfig } from 'vite';

// Preact through esbuild's automatic JSX runtime: no Babel preset needed for a build.
export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    // The gateway's CSP allows scripts from 'self' only: no inline module-preload polyfill.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
  resolve: { alias: { react: 'preact/compat', 'react-dom': 'preact/compat' } },
  server: {
    host: '127.0.0.1',
    proxy: { '/api': process.env.GOVAULT_SERVER ?? 'http://127.0.0.1:8080' },
  },
});
