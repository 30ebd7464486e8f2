import { REDACTED, Redactor } from './redactor';

describe(Redactor.name, () => {
  it('replaces every occurrence of each secret, alone or inside a longer line', () => {
    const redactor = new Redactor(['hunter22', 's3cr3t-t0ken']);
    expect(redactor.text('hunter22')).toBe(REDACTED);
    expect(redactor.text('token=s3cr3t-t0ken; again s3cr3t-t0ken, hunter22!')).toBe(
      'token=***; again ***, ***!',
    );
  });

  it('leaves text alone when there are no secrets', () => {
    expect(new Redactor().text('nothing to hide: hunter22')).toBe('nothing to hide: hunter22');
  });

  it('replaces the whole of a secret that contains another', () => {
    expect(new Redactor(['abcd', 'xxabcdxx']).text('[xxabcdxx] [abcd]')).toBe('[***] [***]');
  });

  it('takes secrets as text, not as patterns', () => {
    const redactor = new Redactor(['a.b*c(d)']);
    expect(redactor.text('a.b*c(d) aXbbbcd')).toBe('*** aXbbbcd');
  });

  it('finds each line of a multi-line secret on its own line of output', () => {
    const redactor = new Redactor([
      '-----BEGIN KEY-----\nMIIEpAIBAAKCAQEA\r\nabc\n-----END KEY-----',
    ]);
    expect(['-----BEGIN KEY-----', 'MIIEpAIBAAKCAQEA', 'abc'].map((l) => redactor.text(l))).toEqual(
      ['***', '***', 'abc'],
    );
  });

  it('does not look for values shorter than 4 characters', () => {
    expect(new Redactor(['abc', '']).text('abc abcd')).toBe('abc abcd');
  });

  it('redacts every string of a value, keys included, before it is serialised', () => {
    const secret = 'quote"and\\slash';
    const redactor = new Redactor([secret]);
    const value = { message: `said ${secret}`, list: [secret, 3, null], [secret]: true };
    const redacted = redactor.value(value);
    expect(redacted).toEqual({ message: 'said ***', list: ['***', 3, null], '***': true });
    expect(JSON.stringify(redacted)).not.toContain('quote');
    // Serialised first, the escapes would have hidden it.
    expect(redactor.text(JSON.stringify(value))).toContain('quote\\"and');
  });
});
