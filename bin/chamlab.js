#!/usr/bin/env node
'use strict';
// The CLI is compiled TypeScript under dist/ (built by `npm run build`, and by `prepare` on install).
const path = require('path');
const fs = require('fs');
const entry = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  process.stderr.write(`chamlab: ${entry} is missing; run 'npm run build' in ${path.dirname(__dirname)}\n`);
  process.exit(1);
}
const { main } = require(entry);
main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e) => {
    process.stderr.write(`chamlab: internal error (please report): ${e && e.stack ? e.stack : String(e)}\n`);
    process.exitCode = 70;
  },
);
