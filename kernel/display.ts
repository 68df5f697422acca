/**
 * Rich output from a cell: one `display_data` message carrying several MIME types at once (tslab's
 * public `display.raw` sends one type per message), and outputs updated in place
 * (`update_display_data` with the same display id: the front end replaces the output, and an
 * executed notebook keeps the last value).
 *
 * Messages go through tslab's kernel-wide writer for the current cell (`lastWriteDisplayData` of
 * tslab/dist/jupyter, the same function its public API uses); outside a running kernel there is
 * none, and displaying is an error that says so.
 */
import { randomBytes } from 'node:crypto';

/** MIME type -> data: text for text types, base64 for images, a plain object for JSON types. */
export type MimeBundle = Record<string, unknown>;

interface DisplayMessage {
  data: MimeBundle;
  metadata: Record<string, unknown>;
  transient: { display_id?: string };
}

type Writer = (msg: DisplayMessage, update: boolean) => void;

/** tslab's jupyter module as this process loaded it (the kernel's own instance). */
function tslabJupyter(): { lastWriteDisplayData: Writer | null } {
  // Resolved from tslab's package folder, as tslab's public API requires it: the same module instance.
  return require(require.resolve('tslab/dist/jupyter'));
}

function writer(): Writer {
  const w = tslabJupyter().lastWriteDisplayData;
  if (!w) throw new Error('chamlab/kernel display helpers need a running chamlab kernel (see `chamlab kernel install`)');
  return w;
}

/** Sends one output with every MIME type of `bundle`. */
export function displayBundle(bundle: MimeBundle, metadata: Record<string, unknown> = {}): void {
  writer()({ data: bundle, metadata, transient: {} }, false);
}

/**
 * One output that later calls replace: the first `update` sends display_data with a fresh display
 * id, the following ones update_display_data for that id.
 */
export class LiveOutput {
  readonly id = randomBytes(8).toString('hex');
  private shown = false;

  update(bundle: MimeBundle, metadata: Record<string, unknown> = {}): void {
    writer()({ data: bundle, metadata, transient: { display_id: this.id } }, this.shown);
    this.shown = true;
  }
}

/** Text safe inside HTML. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON safe inside a <script> element: no `</script>`, no `<!--`, no line separators that end JS strings. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}
