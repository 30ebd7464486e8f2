import { runInNewContext } from 'node:vm';
import { jsonDuplicateKey } from './json-syntax';

/** Runs `scan(text)` and stops it after `ms` (an endless scan throws instead of hanging the test). */
function scanWithin<T>(scan: (text: string) => T, text: string, ms = 5_000): T {
  return runInNewContext('scan(text)', { scan, text }, { timeout: ms }) as T;
}

describe(jsonDuplicateKey.name, () => {
  it('names a key repeated in one object, where the repeat is, and where the first was', () => {
    expect(jsonDuplicateKey('{"title":"a",\n "title":"b"}')).toEqual({
      path: 'title',
      message: 'duplicate key "title" (first on line 1)',
      line: 2,
      column: 2,
    });
  });

  it('follows nested objects and lists to the path of the repeat', () => {
    const text = '{"tasks":[{"key":"a"},{"key":"b","env":{"CI":"1","C\\u0049":"2"}}]}';
    expect(jsonDuplicateKey(text)).toMatchObject({
      path: 'tasks.1.env.CI',
      message: 'duplicate key "CI" (first on line 1)',
      line: 1,
      column: text.indexOf('"C\\u0049"') + 1,
    });
  });

  it('takes the same key in different objects, and keys that only look alike', () => {
    const text = '{"a":{"x":1},"b":{"x":[{"x":2}],"X":3},"c":["a","a"],"x\\"":1,"x":2}';
    expect(jsonDuplicateKey(text)).toBeUndefined();
    expect(jsonDuplicateKey('[1,{"a":{}},"{\\"a\\":1,\\"a\\":2}"]')).toBeUndefined();
  });

  it('leaves text that is not JSON to JSON.parse', () => {
    expect(jsonDuplicateKey('{"a":1,"a":2')).toMatchObject({ path: 'a' });
    expect(jsonDuplicateKey("{'a':1,'a':2}")).toBeUndefined();
  });

  it('scans hostile strings in one pass: unterminated, full of escapes, or bad', () => {
    // A string regex with a repeated group took 2^n steps on these: the gateway
    // hung on one request body.
    const long = 'x'.repeat(200_000);
    expect(scanWithin(jsonDuplicateKey, `{"a":"${long}`)).toBeUndefined();
    expect(scanWithin(jsonDuplicateKey, `{"a":"${'\\"'.repeat(50_000)}`)).toBeUndefined();
    expect(scanWithin(jsonDuplicateKey, `{"a":"${long}\\q","a":1}`)).toBeUndefined();
    expect(scanWithin(jsonDuplicateKey, `{"${long}":1,"${long}":2}`)).toMatchObject({
      message: expect.stringMatching(/^duplicate key/) as string,
    });
  });
});
