import {
  chooseDispatch,
  limitFor,
  projectLimit,
  projectRoom,
  type Candidate,
  type Limits,
  type ProjectLimits,
} from './choose-dispatch';

const T0 = Date.UTC(2024, 0, 1);

function candidate(id: string, overrides: Partial<Omit<Candidate, 'id'>> = {}): Candidate {
  return { id, provider: 'claude', projectId: 'p1', priority: 0, readyAt: T0, ...overrides };
}

const ids = (chosen: readonly Candidate[]) => chosen.map((c) => c.id);
const roomy: Limits = { default: 100 };

describe(limitFor.name, () => {
  it('uses the provider limit when there is one, even zero', () => {
    expect(limitFor({ default: 8, claude: 2, openai: 0 }, 'claude')).toBe(2);
    expect(limitFor({ default: 8, claude: 2, openai: 0 }, 'openai')).toBe(0);
  });

  it('falls back to the default for an unlisted provider', () => {
    expect(limitFor({ default: 8, claude: 2 }, 'gemini')).toBe(8);
  });
});

describe(projectLimit.name, () => {
  it("takes the project row's own limit over the configured default", () => {
    expect(projectLimit(3, 10)).toBe(3);
    expect(projectLimit(30, 10)).toBe(30);
  });

  it('takes the configured default when the row sets none', () => {
    expect(projectLimit(null, 10)).toBe(10);
  });

  it('reads 0, in the row or the default, as no limit', () => {
    expect(projectLimit(null, 0)).toBe(Infinity);
    expect(projectLimit(0, 10)).toBe(Infinity);
  });
});

describe(projectRoom.name, () => {
  const projects: ProjectLimits = {
    active: { a: 2, b: 7, c: 1 },
    limits: { a: 5, b: 4, u: Infinity },
    fallback: 3,
  };

  it('is the limit minus the active tasks, never below zero', () => {
    expect(projectRoom(projects, 'a')).toBe(3);
    expect(projectRoom(projects, 'b')).toBe(0);
  });

  it('uses the fallback for a project without its own limit', () => {
    expect(projectRoom(projects, 'c')).toBe(2);
    expect(projectRoom(projects, 'new')).toBe(3);
    expect(projectRoom(projects, 'u')).toBe(Infinity);
  });
});

describe(chooseDispatch.name, () => {
  it('takes higher priority before older age', () => {
    const chosen = chooseDispatch(
      [
        candidate('old-low', { priority: 0, readyAt: T0 }),
        candidate('new-high', { priority: 10, readyAt: T0 + 60_000 }),
        candidate('mid', { priority: -5, readyAt: T0 - 60_000 }),
      ],
      {},
      roomy,
      10,
    );
    expect(ids(chosen)).toEqual(['new-high', 'old-low', 'mid']);
  });

  it('takes the oldest first within one priority', () => {
    const chosen = chooseDispatch(
      [
        candidate('c', { readyAt: T0 + 3 }),
        candidate('a', { readyAt: T0 + 1 }),
        candidate('b', { readyAt: T0 + 2 }),
      ],
      {},
      roomy,
      10,
    );
    expect(ids(chosen)).toEqual(['a', 'b', 'c']);
  });

  it('gives each provider at most its limit minus what it already has active', () => {
    const candidates = [
      ...['c1', 'c2', 'c3', 'c4'].map((id, i) => candidate(id, { provider: 'claude', readyAt: i })),
      ...['o1', 'o2', 'o3'].map((id, i) => candidate(id, { provider: 'openai', readyAt: i })),
    ];
    const chosen = chooseDispatch(
      candidates,
      { claude: 1, openai: 0 },
      {
        default: 10,
        claude: 3,
        openai: 2,
      },
      10,
    );
    expect(ids(chosen.filter((c) => c.provider === 'claude'))).toEqual(['c1', 'c2']);
    expect(ids(chosen.filter((c) => c.provider === 'openai'))).toEqual(['o1', 'o2']);
  });

  it('skips a full provider without blocking lower-priority work of another', () => {
    const chosen = chooseDispatch(
      [
        candidate('full', { provider: 'claude', priority: 100 }),
        candidate('other', { provider: 'openai', priority: 0 }),
      ],
      { claude: 2 },
      { default: 5, claude: 2 },
      10,
    );
    expect(ids(chosen)).toEqual(['other']);
  });

  it('gives nothing to a provider already over its limit', () => {
    const chosen = chooseDispatch([candidate('a')], { claude: 5 }, { default: 10, claude: 2 }, 10);
    expect(chosen).toEqual([]);
  });

  it('applies the default limit to an unlisted provider', () => {
    const candidates = ['g1', 'g2', 'g3', 'g4'].map((id, i) =>
      candidate(id, { provider: 'gemini', readyAt: i }),
    );
    const chosen = chooseDispatch(candidates, { gemini: 1 }, { default: 3, claude: 50 }, 10);
    expect(ids(chosen)).toEqual(['g1', 'g2']);
  });

  it('never chooses more than the batch size in all', () => {
    const candidates = Array.from({ length: 20 }, (_, i) =>
      candidate(`t${String(i).padStart(2, '0')}`, {
        provider: i % 2 ? 'claude' : 'openai',
        readyAt: T0 + i,
      }),
    );
    const chosen = chooseDispatch(candidates, {}, roomy, 5);
    expect(ids(chosen)).toEqual(['t00', 't01', 't02', 't03', 't04']);
  });

  it('chooses nothing when there is no capacity', () => {
    const candidates = [candidate('a'), candidate('b', { provider: 'other' })];
    expect(chooseDispatch(candidates, {}, { default: 0 }, 10)).toEqual([]);
    expect(chooseDispatch(candidates, {}, roomy, 0)).toEqual([]);
    expect(chooseDispatch([], {}, roomy, 10)).toEqual([]);
  });

  it('breaks ties on priority and age by id, whatever the input order', () => {
    const tied = ['m', 'z', 'a', 'k'].map((id) => candidate(id));
    const forward = chooseDispatch(tied, {}, roomy, 10);
    const backward = chooseDispatch([...tied].reverse(), {}, roomy, 10);
    expect(ids(forward)).toEqual(['a', 'k', 'm', 'z']);
    expect(ids(backward)).toEqual(ids(forward));
  });

  it('does not reorder or change the caller array', () => {
    const input = [candidate('b', { priority: 1 }), candidate('a', { priority: 2 })];
    const copy = input.map((c) => ({ ...c }));
    chooseDispatch(input, {}, roomy, 10);
    expect(input).toEqual(copy);
  });

  it('gives each project at most its limit minus what it already has active', () => {
    const candidates = [
      ...['a1', 'a2', 'a3', 'a4'].map((id, i) => candidate(id, { projectId: 'a', readyAt: i })),
      ...['b1', 'b2', 'b3'].map((id, i) => candidate(id, { projectId: 'b', readyAt: i })),
    ];
    const projects = { active: { a: 1 }, limits: { a: 3 }, fallback: 2 };
    const chosen = chooseDispatch(candidates, {}, roomy, 10, projects);
    expect(ids(chosen.filter((c) => c.projectId === 'a'))).toEqual(['a1', 'a2']);
    expect(ids(chosen.filter((c) => c.projectId === 'b'))).toEqual(['b1', 'b2']);
  });

  it('does not let a project at its limit take the batch from others', () => {
    const full = Array.from({ length: 10 }, (_, i) =>
      candidate(`a${i}`, { projectId: 'a', priority: 100, readyAt: T0 - 1_000 + i }),
    );
    const others = ['b1', 'b2', 'b3'].map((id, i) => candidate(id, { projectId: 'b', readyAt: i }));
    const projects = { active: { a: 2 }, limits: { a: 2 }, fallback: Infinity };
    const chosen = chooseDispatch([...full, ...others], {}, roomy, 3, projects);
    expect(ids(chosen)).toEqual(['b1', 'b2', 'b3']);
  });

  it('holds a task back when its project is full even though its provider has room', () => {
    const chosen = chooseDispatch(
      [
        candidate('a-claude', { projectId: 'a', provider: 'claude', priority: 5 }),
        candidate('a-openai', { projectId: 'a', provider: 'openai', priority: 4 }),
        candidate('b-openai', { projectId: 'b', provider: 'openai', priority: 0 }),
      ],
      { claude: 2 },
      { default: 10, claude: 2 },
      10,
      { active: {}, limits: { a: 1 }, fallback: Infinity },
    );
    // a-claude: provider full; a-openai: takes a's only slot; b-openai: another project.
    expect(ids(chosen)).toEqual(['a-openai', 'b-openai']);
  });

  it('limits no project when given no project limits', () => {
    const candidates = ['x1', 'x2', 'x3'].map((id, i) => candidate(id, { readyAt: i }));
    expect(ids(chooseDispatch(candidates, {}, roomy, 10))).toEqual(['x1', 'x2', 'x3']);
  });
});
