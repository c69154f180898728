#!/usr/bin/env node
// The CLI is TypeScript run by tsx, a dependency of this package, so the same files work
// from a clone (`npx govault`) and from `npm install -g`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
process.exitCode = await main();
