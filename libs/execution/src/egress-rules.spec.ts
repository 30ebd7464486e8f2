import {
  connectTarget,
  matchRule,
  requestTarget,
  rulesOf,
  ruleText,
  urlRule,
} from './egress-rules';

describe(matchRule.name, () => {
  const rules = rulesOf([
    'registry.npmjs.org',
    '*.pypi.org',
    'db.internal:5432',
    '[::1]:8080',
    '10.0.0.5',
  ]);
  const allows = (host: string, port: number) => matchRule(rules, { host, port }) !== undefined;

  it('lets an exact name through on 443 and 80 when the rule names no port', () => {
    expect(allows('registry.npmjs.org', 443)).toBe(true);
    expect(allows('registry.npmjs.org', 80)).toBe(true);
    expect(allows('registry.npmjs.org', 22)).toBe(false);
    expect(allows('npmjs.org', 443)).toBe(false);
    expect(allows('evil.registry.npmjs.org', 443)).toBe(false);
    expect(allows('registry.npmjs.org.evil.example', 443)).toBe(false);
  });

  it('lets a wildcard match names below its domain, at any depth, not the domain itself', () => {
    expect(allows('files.pypi.org', 443)).toBe(true);
    expect(allows('a.b.pypi.org', 443)).toBe(true);
    expect(allows('pypi.org', 443)).toBe(false);
    expect(allows('evilpypi.org', 443)).toBe(false);
    expect(allows('files.pypi.org', 8443)).toBe(false);
  });

  it('holds a rule with a port to that port only', () => {
    expect(allows('db.internal', 5432)).toBe(true);
    expect(allows('db.internal', 443)).toBe(false);
    expect(allows('db.internal', 5433)).toBe(false);
  });

  it('compares IP addresses as addresses', () => {
    expect(allows('::1', 8080)).toBe(true);
    expect(allows('10.0.0.5', 443)).toBe(true);
    expect(allows('10.0.0.5', 5432)).toBe(false);
    expect(allows('10.0.0.6', 443)).toBe(false);
    // An IP is never matched by a name's wildcard.
    expect(matchRule(rulesOf(['*.0.0.5']), { host: '10.0.0.5', port: 443 })).toBeUndefined();
  });

  it('names rules as they were written', () => {
    expect(rules.map((rule) => ruleText(rule))).toEqual([
      'registry.npmjs.org',
      '*.pypi.org',
      'db.internal:5432',
      '[::1]:8080',
      '10.0.0.5',
    ]);
  });
});

describe(urlRule.name, () => {
  it("takes a base URL's host and its port, explicit or the scheme's", () => {
    expect(urlRule('https://api.anthropic.com')).toEqual({
      host: 'api.anthropic.com',
      wildcard: false,
      port: 443,
      trusted: true,
    });
    expect(ruleText(urlRule('http://gateway.internal/v1'))).toBe('gateway.internal:80');
    expect(ruleText(urlRule('https://gateway.internal:8443/anthropic'))).toBe(
      'gateway.internal:8443',
    );
    expect(ruleText(urlRule('http://[::1]:9000'))).toBe('[::1]:9000');
  });
});

describe(connectTarget.name, () => {
  it('reads host:port, [v6]:port and lowercases names', () => {
    expect(connectTarget('API.Anthropic.com:443')).toEqual({
      host: 'api.anthropic.com',
      port: 443,
    });
    expect(connectTarget('[0:0::1]:5432')).toEqual({ host: '::1', port: 5432 });
    expect(connectTarget('10.0.0.5:22')).toEqual({ host: '10.0.0.5', port: 22 });
  });

  it('refuses what names no host and port', () => {
    for (const bad of [
      'api.anthropic.com',
      'h:0',
      'h:70000',
      ':443',
      'a@b:443',
      'h/x:443',
      '[zz]:443',
    ]) {
      expect(connectTarget(bad)).toBeUndefined();
    }
  });
});

describe(requestTarget.name, () => {
  it('takes absolute http:// URIs only, port 80 by default', () => {
    expect(requestTarget('http://Example.com/x?y')).toEqual({ host: 'example.com', port: 80 });
    expect(requestTarget('http://[::1]:8080/')).toEqual({ host: '::1', port: 8080 });
    expect(requestTarget('/relative')).toBeUndefined();
    expect(requestTarget('https://example.com/')).toBeUndefined();
    expect(requestTarget('http://user:pw@example.com/')).toBeUndefined();
  });
});
