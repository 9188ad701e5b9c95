import { describe, expect, it } from 'vitest';
import { systemErrorLine, userPath } from '../../../src/cli/system-error.js';

const systemError = (code: string, syscall: string, path: string) =>
  Object.assign(new Error(`${code}: …, ${syscall} '${path}'`), { code, syscall, path });

describe('file system errors at the top', () => {
  it("name the user's path, not the temporary file of an atomic write, and say what is wrong", () => {
    expect(
      systemErrorLine(systemError('ENOENT', 'open', '/nonexistent/dir/p.json.tmp-1949-712385cbde67')),
    ).toBe(
      'error: cannot open /nonexistent/dir/p.json: no such file or directory (or its directory is missing)',
    );
    expect(systemErrorLine(systemError('ENOTDIR', 'mkdir', 'afile/root'))).toBe(
      'error: cannot create the directory afile/root: a part of the path is not a directory',
    );
    expect(userPath('/x/.bundle.tar.tmp-28291-b70c15c5')).toBe('/x/bundle.tar');
  });

  it('leave every other error to the generic report', () => {
    expect(systemErrorLine(new Error('boom'))).toBeUndefined();
    expect(systemErrorLine(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBeUndefined();
  });
});
