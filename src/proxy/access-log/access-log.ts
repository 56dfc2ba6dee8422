/**
 * Access loggers (envoy.access_loggers.file, .stdout, .stderr) with Envoy's format rules:
 * the default format, `log_format.text_format_source.inline_string`, `log_format.json_format`.
 * Lines go to a write stream (buffered by Node; never a sync write on the request path).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { Fields } from '../config/fields.js';
import type { StreamInfo } from '../stream-info.js';
import { compileFormat, compileJsonFormat, DEFAULT_FORMAT } from './formatter.js';

export type AccessLogger = (si: StreamInfo) => void;

const FILE = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';
const STDOUT = 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog';
const STDERR = 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog';

const files = new Map<string, WriteStream>();
function sink(path: string): (line: string) => void {
  if (path === '/dev/stdout') return (l) => process.stdout.write(l);
  if (path === '/dev/stderr') return (l) => process.stderr.write(l);
  let s = files.get(path);
  if (!s) {
    s = createWriteStream(path, { flags: 'a' });
    s.on('error', () => {});
    files.set(path, s);
  }
  const w = s;
  return (l) => w.write(l);
}

/** envoy.config.core.v3.SubstitutionFormatString → line builder. */
function readLogFormat(f: Fields | undefined): ((si: StreamInfo) => string) {
  const errors: string[] = [];
  let fn: (si: StreamInfo) => string;
  if (!f) {
    const c = compileFormat(DEFAULT_FORMAT, errors);
    return (si) => c.format(si, '-');
  }
  if (f.has('json_format')) {
    fn = compileJsonFormat(f.raw('json_format') as Record<string, unknown>, errors);
  } else if (f.has('text_format_source')) {
    const src = f.obj_('text_format_source');
    const text = src.str('inline_string');
    src.done();
    const c = compileFormat(text, errors);
    fn = (si) => c.format(si, '-');
  } else if (f.has('text_format')) {
    const c = compileFormat(f.str('text_format'), errors);
    fn = (si) => c.format(si, '-');
  } else {
    const c = compileFormat(DEFAULT_FORMAT, errors);
    fn = (si) => c.format(si, '-');
  }
  f.unsupported('formatters', 'custom formatter extensions are not supported by spar proxy');
  f.unsupported('content_type');
  f.unsupportedIfSet('omit_empty_values', 'not supported by spar proxy');
  for (const e of errors) f.error('', e);
  f.done();
  return fn;
}

/** envoy.config.accesslog.v3.AccessLog list → loggers (empty list → undefined: nothing to call). */
export function compileAccessLogs(list: Fields[]): AccessLogger[] | undefined {
  const out: AccessLogger[] = [];
  for (const a of list) {
    a.ignore('name');
    const tc = a.obj_('typed_config');
    const type = tc.str('@type');
    let format: (si: StreamInfo) => string;
    let write: (line: string) => void;
    if (type === FILE) {
      const path = tc.str('path');
      if (!path) tc.error('path', 'required');
      write = sink(path);
      format = readLogFormat(tc.opt('log_format'));
    } else if (type === STDOUT || type === STDERR) {
      write = type === STDOUT ? (l) => process.stdout.write(l) : (l) => process.stderr.write(l);
      format = readLogFormat(tc.opt('log_format'));
    } else {
      tc.error('@type', `access logger ${JSON.stringify(type)} not supported by spar proxy (supported: file, stdout, stderr)`);
      continue;
    }
    tc.done();
    a.done();
    out.push((si) => write(format(si)));
  }
  return out.length ? out : undefined;
}
