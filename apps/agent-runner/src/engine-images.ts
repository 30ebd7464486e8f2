import { Logger } from '@nestjs/common';
import type Docker from 'dockerode';
import { imageAliases, MAX_RUNNER_IMAGES, RunnerImages } from '@drover/contracts';

/** How often the engine's images are listed again (a heartbeat carries them only when they changed). */
const REFRESH_MS = 60_000;

/**
 * The images this runner's engine has, as the runner tells the registry: every
 * tag with the short forms a task may name it by (`imageAliases`), so the
 * scheduler holds back a task whose image no runner of its pool has instead of
 * sending it to one where it would end INVALID_SPEC. Listed at registration,
 * then at most every minute in the background; a heartbeat carries the list only
 * when it changed.
 */
export class EngineImages {
  private readonly logger = new Logger(EngineImages.name);
  private current: string[] = [];
  private sent: string | undefined;
  private listedAt = 0;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly docker: Docker,
    private readonly refreshMs = REFRESH_MS,
  ) {}

  /** Lists the engine's images now; the registration carries them. */
  async list(): Promise<string[]> {
    await this.refresh();
    this.sent = this.current.join('\n');
    return this.current;
  }

  /**
   * The images when they changed since they were last sent; else undefined. A
   * list that is due is made in the background: a heartbeat never waits for
   * the engine (a slow one would make the runner STALE), it carries the change
   * with the next beat.
   */
  whenChanged(): string[] | undefined {
    if (!this.refreshing && Date.now() - this.listedAt >= this.refreshMs) {
      this.refreshing = this.refresh().finally(() => (this.refreshing = undefined));
    }
    const key = this.current.join('\n');
    if (key === this.sent) return undefined;
    this.sent = key;
    return this.current;
  }

  /** Waits for a list under way (tests, shutdown). */
  async settled(): Promise<void> {
    await this.refreshing;
  }

  private async refresh(): Promise<void> {
    this.listedAt = Date.now();
    try {
      const images = await this.docker.listImages();
      this.current = referencesOf(images.flatMap((i) => i.RepoTags ?? []));
    } catch (error) {
      // The last list stands: an engine that does not answer has not lost its images.
      this.logger.warn(`listing the engine's images failed: ${(error as Error).message}`);
    }
  }
}

/** The valid references of `tags` with their aliases, sorted, at most as many as the registry takes. */
export function referencesOf(tags: readonly string[]): string[] {
  const refs = new Set<string>();
  for (const tag of tags) {
    if (tag.includes('<none>')) continue;
    for (const alias of imageAliases(tag)) refs.add(alias);
  }
  const valid = [...refs].filter((r) => RunnerImages.element.safeParse(r).success).sort();
  return valid.slice(0, MAX_RUNNER_IMAGES);
}
