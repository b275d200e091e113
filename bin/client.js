#!/usr/bin/env node
// Thin executable: everything lives in dist/ (built from src/ by `npm ci` / `npm run build`).
import { main } from '../dist/cli/main.js';

await main(process.argv);
