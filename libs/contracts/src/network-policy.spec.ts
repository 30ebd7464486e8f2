import { parseHostPattern, resolveNetwork } from './network-policy';
import { taskNetwork } from './task-spec';

describe(parseHostPattern.name, () => {
  it.each([
    ['registry.npmjs.org', { host: 'registry.npmjs.org', wildcard: false, port: undefined }],
    ['Registry.NPMjs.org', { host: 'registry.npmjs.org', wildcard: false, port: undefined }],
    ['*.pypi.org', { host: 'pypi.org', wildcard: true, port: undefined }],
    ['*.pypi.org:8443', { host: 'pypi.org', wildcard: true, port: 8443 }],
    ['db.internal:5432', { host: 'db.internal', wildcard: false, port: 5432 }],
    ['localhost', { host: 'localhost', wildcard: false, port: undefined }],
    ['10.0.0.5:5432', { host: '10.0.0.5', wildcard: false, port: 5432 }],
    ['[2001:DB8::1]:443', { host: '2001:db8::1', wildcard: false, port: 443 }],
    ['[::1]', { host: '::1', wildcard: false, port: undefined }],
    ['a-b.example:1', { host: 'a-b.example', wildcard: false, port: 1 }],
    ['h.example:65535', { host: 'h.example', wildcard: false, port: 65535 }],
  ])('reads %s', (text, pattern) => {
    expect(parseHostPattern(text)).toEqual(pattern);
  });

  it.each([
    ['', 'is empty'],
    ['x'.repeat(261), 'is longer than 260 characters'],
    ['open', 'is a network policy'],
    ['https://pypi.org', 'no scheme, path or user'],
    ['pypi.org/simple', 'no scheme, path or user'],
    ['user@pypi.org', 'no scheme, path or user'],
    ['pypi .org', 'no scheme, path or user'],
    ['::1', 'in brackets'],
    ['[not-v6]:443', 'is not an IPv6 address'],
    ['[10.0.0.1]', 'is not an IPv6 address'],
    ['h.example:0', 'no valid port'],
    ['h.example:65536', 'no valid port'],
    ['h.example:', 'no valid port'],
    ['h.example:http', 'no valid port'],
    ['*', 'is not a host'],
    ['*.', 'is not a host'],
    ['a.*.example', 'is not a host'],
    ['**.example.com', 'is not a host'],
    ['-bad.example', 'is not a host'],
    ['bad-.example', 'is not a host'],
    ['under_score.example', 'is not a host'],
    ['example.com.', 'is not a host'],
    [`${'a'.repeat(64)}.example`, 'is not a host'],
    ['1.2.3.999', 'an IPv4 address is four numbers'],
    ['127.1', 'an IPv4 address is four numbers'],
    ['*.com', 'whole top-level domain'],
  ])('refuses %j: %s', (text, problem) => {
    const parsed = parseHostPattern(text);
    expect('problem' in parsed && parsed.problem).toContain(problem);
  });
});

describe(resolveNetwork.name, () => {
  it('gives CLI agents provider and every other agent none, unless the task asked', () => {
    expect(taskNetwork('claude-code', undefined)).toBe('provider');
    expect(taskNetwork('aider', undefined)).toBe('provider');
    expect(taskNetwork('command', undefined)).toBe('none');
    expect(taskNetwork('oracle', undefined)).toBe('none');
    expect(taskNetwork('codex', 'none')).toBe('none');
    expect(taskNetwork('command', { allow: ['a.example'] })).toEqual({ allow: ['a.example'] });
  });

  it('reads the earlier booleans as open and none', () => {
    expect(resolveNetwork(false, true)).toBe('open');
    expect(resolveNetwork(true, false)).toBe('none');
  });
});
