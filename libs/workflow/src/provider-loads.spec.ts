import { providerLoads } from './provider-loads';

describe('providerLoads', () => {
  it('lists every limited provider, idle ones at zero', () => {
    expect(providerLoads({ claude: 3, default: 8 }, [])).toEqual([
      { provider: 'claude', running: 0, runningInProject: 0, limit: 3 },
      { provider: 'default', running: 0, runningInProject: 0, limit: 8 },
    ]);
  });

  it("gives a provider no limit names the default's, as the scheduler does", () => {
    const loads = providerLoads({ default: 4 }, [
      { provider: 'gemini', running: 5, runningInProject: 2 },
      { provider: 'default', running: 1, runningInProject: 1 },
    ]);
    expect(loads).toEqual([
      { provider: 'default', running: 1, runningInProject: 1, limit: 4 },
      { provider: 'gemini', running: 5, runningInProject: 2, limit: 4 },
    ]);
  });

  it('keeps a limit of zero (a provider switched off) rather than the default', () => {
    expect(providerLoads({ openai: 0, default: 8 }, [])[1]).toEqual({
      provider: 'openai',
      running: 0,
      runningInProject: 0,
      limit: 0,
    });
  });

  it('reads a provider named like an Object property as a provider', () => {
    expect(
      providerLoads({ default: 2 }, [{ provider: 'constructor', running: 1, runningInProject: 0 }]),
    ).toEqual([
      { provider: 'constructor', running: 1, runningInProject: 0, limit: 2 },
      { provider: 'default', running: 0, runningInProject: 0, limit: 2 },
    ]);
  });
});
