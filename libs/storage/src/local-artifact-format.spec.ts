import { decodeHeader, encodeHeader, MAX_HEADER_BYTES } from './local-artifact-format';

const header = { contentType: 'text/plain; charset=utf-8', size: 5, sha256: 'a'.repeat(64) };

describe('local artifact header', () => {
  it('decodes what it encodes, and says where the body starts', () => {
    const encoded = encodeHeader(header);
    const file = Buffer.concat([encoded, Buffer.from('hello')]);
    expect(decodeHeader(file)).toEqual({ header, length: encoded.length });
  });

  it('stays under MAX_HEADER_BYTES for the longest content type with escapes', () => {
    const longest = { ...header, contentType: `a/b;${'"'.repeat(251)}`, size: 2 ** 53 - 1 };
    expect(encodeHeader(longest).length).toBeLessThan(MAX_HEADER_BYTES);
    expect(decodeHeader(encodeHeader(longest))?.header).toEqual(longest);
  });

  it.each([
    ['an empty file', ''],
    ['a file someone else wrote', 'root:x:0:0:root:/root:/bin/sh\n'],
    ['another format version', 'drover-artifact/2\n{}\n'],
    ['a header cut short', 'drover-artifact/1\n{"contentType":"text/plain"'],
    ['a header that is not JSON', 'drover-artifact/1\nnot json\n'],
    ['a header without its digest', 'drover-artifact/1\n{"contentType":"a/b","size":1}\n'],
    [
      'a negative size',
      `drover-artifact/1\n{"contentType":"a/b","size":-1,"sha256":"${'a'.repeat(64)}"}\n`,
    ],
    ['a JSON array', 'drover-artifact/1\n[]\n'],
  ])('finds no header in %s', (_what, text) => {
    expect(decodeHeader(Buffer.from(text))).toBeUndefined();
  });
});
