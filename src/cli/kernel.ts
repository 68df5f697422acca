/** `chamlab kernel install|uninstall [--user | --sys-prefix | --prefix DIR] [--python PATH]`: the Jupyter kernel. */
import { UserError } from '../../dsl/errors';
import { DISPLAY_NAME, installKernel, KERNEL_NAME, uninstallKernel, type KernelLocation } from '../../kernel/install';
import type { Command } from './command';
import { parseCommandArgs } from './common';

const USAGE = 'chamlab kernel install|uninstall [--user | --sys-prefix | --prefix DIR] [--python PATH]';

export const command: Command = {
  summary: 'register (or remove) the "chamlab (TypeScript)" Jupyter kernel',
  help: `usage: ${USAGE}

Registers a Jupyter kernelspec named "${KERNEL_NAME}" ("${DISPLAY_NAME}"): tslab's TypeScript kernel
where every cell can \`import * as chamlab from 'chamlab'\` and the notebook helpers
\`import { spec, show, train, plot, showImages } from 'chamlab/kernel'\`, from a notebook in any folder.

options:
  --user          the per-user kernels folder (the default unless run as root)
  --sys-prefix    the kernels folder of Jupyter's Python environment (a virtualenv or conda env)
  --prefix DIR    DIR/share/jupyter/kernels; then set JUPYTER_PATH=DIR/share/jupyter
  --python PATH   the Python that has Jupyter, to find the folders above (default: python3, then
                  /usr/bin/python3); not needed with --prefix

example:
  chamlab kernel install --user && jupyter lab notebooks/quickstart.ipynb
`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('kernel', args, {
      user: { type: 'boolean' },
      'sys-prefix': { type: 'boolean' },
      prefix: { type: 'string' },
      python: { type: 'string' },
    });
    const [action, ...extra] = positionals;
    if ((action !== 'install' && action !== 'uninstall') || extra.length > 0) throw new UserError(`expected install or uninstall: ${USAGE}`, 'chamlab kernel');
    const chosen = [values.user && '--user', values['sys-prefix'] && '--sys-prefix', values.prefix !== undefined && '--prefix'].filter(Boolean);
    if (chosen.length > 1) throw new UserError(`choose one of ${chosen.join(', ')}`, 'chamlab kernel');
    const location: KernelLocation = values.prefix !== undefined ? { kind: 'prefix', dir: values.prefix } : values.user ? { kind: 'user' } : values['sys-prefix'] ? { kind: 'sys-prefix' } : { kind: 'default' };
    if (action === 'install') {
      const dir = installKernel({ location, python: values.python });
      process.stdout.write(`installed the ${DISPLAY_NAME} kernel (name "${KERNEL_NAME}") in ${dir}\n`);
    } else {
      const dir = uninstallKernel({ location, python: values.python });
      process.stdout.write(`removed the ${DISPLAY_NAME} kernel from ${dir}\n`);
    }
    return 0;
  },
};
