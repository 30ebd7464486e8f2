import { dockerClient } from '@drover/execution';
import { sandboxTestImage } from '@drover/testing';
import { EngineImages, referencesOf } from './engine-images';

function engineHost(): string {
  const host = process.env.DROVER_TEST_DOCKER_HOST;
  if (!host) throw new Error('DROVER_TEST_DOCKER_HOST is empty: no container engine for this test');
  return host;
}

describe(EngineImages.name, () => {
  it("lists the engine's tags, the test image among them, and says them again only when they change", async () => {
    const images = new EngineImages(dockerClient(engineHost()), 0);
    const listed = await images.list();
    expect(listed).toContain(sandboxTestImage());
    expect(listed).toEqual([...listed].sort());
    // Listed again (refresh 0 ms, in the background) with nothing changed: nothing to send.
    expect(images.whenChanged()).toBeUndefined();
    await images.settled();
    expect(images.whenChanged()).toBeUndefined();
    // That call began another list (refresh 0 ms): let it end before the engine changes.
    await images.settled();

    // A new tag on the engine is said with the beat after the list that saw it.
    const docker = dockerClient(engineHost());
    const repo = `localhost/drover-engine-images-${process.pid}`;
    await docker.getImage(sandboxTestImage()).tag({ repo, tag: '1' });
    try {
      images.whenChanged();
      await images.settled();
      expect(images.whenChanged()).toContain(`${repo}:1`);
      expect(images.whenChanged()).toBeUndefined();
    } finally {
      await docker.getImage(`${repo}:1`).remove();
    }
  });
});

describe(referencesOf.name, () => {
  it('drops untagged images and references the registry would refuse, and adds short forms', () => {
    expect(referencesOf(['<none>:<none>', 'docker.io/library/node:20', 'Bad Tag:1'])).toEqual([
      'docker.io/library/node:20',
      'library/node:20',
      'node:20',
    ]);
  });
});
