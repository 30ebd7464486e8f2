import { clip, fit, LiveRegion, redraw } from './screen';

describe(redraw.name, () => {
  it('draws the first frame without moving the cursor', () => {
    expect(redraw(0, ['a', 'b'], 80)).toBe('\x1b[2Ka\n\x1b[2Kb\n\x1b[J');
  });

  it('moves up over the lines drawn before, rewrites them and clears what is left below', () => {
    expect(redraw(3, ['only'], 80)).toBe('\x1b[3A\r\x1b[2Konly\n\x1b[J');
  });

  it('cuts lines to the terminal width so none wraps', () => {
    expect(fit('abcdefgh', 5)).toBe('abcd…');
    expect(fit('\x1b[1mab\x1b[0m', 5)).toBe('\x1b[1mab\x1b[0m');
  });
});

describe(clip.name, () => {
  it('keeps a frame below the screen height, saying how many lines it left out', () => {
    const lines = ['1', '2', '3', '4', '5', '6'];
    expect(clip(lines, 7)).toBe(lines);
    expect(clip(lines, 5)).toEqual(['1', '2', '3', '… and 3 more lines']);
  });
});

describe(LiveRegion.name, () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('redraws at most once per interval, with the latest lines', () => {
    const writes: string[] = [];
    const out = {
      columns: 80,
      write: (s: string) => writes.push(s),
    } as unknown as NodeJS.WriteStream;
    const region = new LiveRegion(out, 200);
    region.update(['1']);
    region.update(['2']);
    region.update(['3']);
    expect(writes).toEqual(['\x1b[2K1\n\x1b[J']);
    jest.advanceTimersByTime(200);
    expect(writes).toEqual(['\x1b[2K1\n\x1b[J', '\x1b[1A\r\x1b[2K3\n\x1b[J']);
    region.clear();
    expect(writes[2]).toBe('\x1b[1A\r\x1b[J');
  });
});
