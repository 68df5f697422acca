/** `chamlab schema [--out FILE]`: the JSON Schema for spec files (editors, yaml-language-server). */
import { jsonSchema } from '../../dsl';
import type { Command } from './command';
import { parseCommandArgs } from './common';
import { checkOutputFile, writeFileAtomic } from '../files';

export const command: Command = {
  summary: 'print the JSON Schema of spec files (--out FILE writes it)',
  help: `usage: chamlab schema [--out FILE]

Prints the JSON Schema of spec files (for editors and yaml-language-server).

options:
  --out FILE          write it to FILE instead (a regular file or a new one)
  -h, --help          this help

example:
  chamlab schema --out schema/chamlab.schema.json
`,
  async run(args) {
    const { values } = parseCommandArgs('schema', args, { out: { type: 'string' } }, false);
    const text = JSON.stringify(jsonSchema(), null, 2) + '\n';
    if (values.out) {
      checkOutputFile(values.out, '--out');
      writeFileAtomic(values.out, text);
    }
    else process.stdout.write(text);
    return 0;
  },
};
