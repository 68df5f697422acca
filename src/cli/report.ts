/** `chamlab report DIR... [--out FILE] [--open]`: one offline HTML file of plots (src/report). */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../../dsl/errors';
import { writeReport } from '../report/html';
import type { Command } from './command';
import { parseCommandArgs } from './common';

const help = `usage: chamlab report DIR... [--out FILE] [--open]

Writes one self-contained HTML file of plots (plotly.js inlined; it makes no network request).
  DIR          a run folder (loss, eval loss per source, learning rate, stability),
               a sweep folder (members table, members' loss curves, LR sensitivity, heatmap), or
               several run folders (compared in the same figures, named by how their specs differ).
               A run that is still training is shown as far as it got.

options:
  --out FILE   where to write (default: report.html in the run or sweep folder; for several runs,
               report.html in the current folder)
  --open       open it with xdg-open when there is one (otherwise just print its path)
  -h, --help   this help

example:
  chamlab report runs/tiny/3f2a9c0d1b7e --open
`;

/** The first executable `name` on PATH, or null. */
function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

/** Hands the file to the desktop's opener without waiting for it; never fails the command. */
function openFile(file: string): boolean {
  const opener = onPath('xdg-open');
  if (!opener) return false;
  try {
    const child = spawn(opener, [file], { detached: true, stdio: 'ignore' });
    child.on('error', () => {});
    child.unref();
    return true;
  } catch {
    return false;
  }
}

export const command: Command = {
  summary: 'one offline HTML file of plots for a run, a sweep, or several runs',
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs('report', args, { out: { type: 'string', short: 'o' }, open: { type: 'boolean' } });
    if (values.set?.length) throw new UserError('--set does not apply: a report shows folders as they are', 'chamlab report');
    if (!positionals.length) throw new UserError("give a run folder, a sweep folder, or several run folders (see 'chamlab report --help')", 'chamlab report');
    const { file, report, bytes } = writeReport(positionals, { out: values.out });
    const n = report.sections.reduce((a, s) => a + s.figures.length, 0);
    process.stdout.write(`report: ${file} (${report.title}, ${n} figures, ${(bytes / 1e6).toFixed(1)} MB)\n`);
    if (values.open && !openFile(file)) process.stdout.write(`no xdg-open on this machine: open ${file} in a browser\n`);
    return 0;
  },
};
