import { maskSpec } from './mask-spec';

describe(maskSpec.name, () => {
  const sealed = { sealed: 'v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAA' };

  it("masks the sealed values of the task's env and of each step's, keeping the rest", () => {
    const spec = {
      prompt: 'keep me',
      env: { PLAIN: 'visible', TOKEN: sealed },
      steps: [{ run: 'a' }, { run: 'b', env: { STEP: sealed, OTHER: 'shown' } }],
    };
    expect(maskSpec(spec)).toEqual({
      prompt: 'keep me',
      env: { PLAIN: 'visible', TOKEN: { secret: true } },
      steps: [{ run: 'a' }, { run: 'b', env: { STEP: { secret: true }, OTHER: 'shown' } }],
    });
    // The stored spec itself is left as it was.
    expect(spec.env.TOKEN).toBe(sealed);
  });

  it('masks a plaintext secret and any value that is not text', () => {
    const spec = { env: { A: { secret: 'hunter22' }, B: 42, C: null, D: ['x'] } };
    expect(maskSpec(spec).env).toEqual({
      A: { secret: true },
      B: { secret: true },
      C: { secret: true },
      D: { secret: true },
    });
  });

  it.each([null, 'text', 3, [], { steps: 'not a list' }, { env: 'not a map' }])(
    'returns %j, which holds no env map, as it is',
    (spec) => {
      expect(maskSpec(spec)).toEqual(spec);
    },
  );
});
