import { clientSpanName, pathTemplate } from './span-names';

const CONTAINER = 'f3a9c2d1e4b5a6978877665544332211ffeeddccbbaa99887766554433221100';
const RUN = '0b0f5a8e-3c1d-4e2f-9a7b-6c5d4e3f2a1b';

describe(pathTemplate.name, () => {
  it.each([
    [`/containers/${CONTAINER}/start`, '/containers/{id}/start'],
    [`/containers/${CONTAINER}/attach?stream=1&stdout=1`, '/containers/{id}/attach'],
    [`/containers/${CONTAINER}?force=true&v=true`, '/containers/{id}'],
    ['/containers/drover-run-abc/wait', '/containers/{id}/wait'],
    ['/containers/create?name=x', '/containers/create'],
    ['/containers/json?all=true&filters=%7B%7D', '/containers/json'],
    [`/v1.41/exec/${CONTAINER.slice(0, 12)}/start`, '/v1.41/exec/{id}/start'],
    ['/volumes/drover-cache', '/volumes/{name}'],
    ['/volumes/create', '/volumes/create'],
    ['/images/localhost/drover-agent:acab23fe70bd/json', '/images/{name}/json'],
    ['/images/alpine:3', '/images/{name}'],
    ['/images/json', '/images/json'],
    ['/_ping', '/_ping'],
    [`/drover-artifacts/runs/${RUN}/diff.patch`, '/drover-artifacts/runs/{id}/diff.patch'],
    [`/tickets/${RUN}`, '/tickets/{id}'],
    [`/logs/run-${RUN}.log`, '/logs/run-{id}.log'],
    ['/items/12345', '/items/{id}'],
    ['/v1/messages', '/v1/messages'],
    ['', '/'],
  ])('templates %s as %s', (path, template) => {
    expect(pathTemplate(path)).toBe(template);
  });
});

describe(clientSpanName.name, () => {
  it('names a request by its method and path template', () => {
    expect(clientSpanName('post', `/containers/${CONTAINER}/start`)).toBe(
      'POST /containers/{id}/start',
    );
    expect(clientSpanName(undefined, '/_ping')).toBe('GET /_ping');
  });
});
