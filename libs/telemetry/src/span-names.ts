/**
 * Span names are templates: an id never appears in one (it goes in an
 * attribute), so that names stay few and group the same operation together.
 */

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
/** Container and exec ids (64 or 12 hex digits), digests, numbers. */
const OPAQUE_ID = /^(?:[0-9a-f]{12,}|sha256:[0-9a-f]+|\d+)$/i;
const ID = '{id}';
const NAME = '{name}';

/**
 * Container-engine API collections (Docker's, Podman's compatible and libpod
 * ones) whose next segment names one item, unless it is one of these actions.
 */
const ENGINE_ITEMS = new Set([
  'containers',
  'exec',
  'networks',
  'volumes',
  'pods',
  'plugins',
  'secrets',
  'configs',
  'services',
  'tasks',
  'nodes',
]);
const COLLECTION_ACTIONS = new Set(['json', 'create', 'prune', 'load', 'search', 'get', 'stats']);
/** What may follow an image name, which can itself hold slashes (`registry/repo:tag`). */
const IMAGE_ACTIONS = new Set(['json', 'history', 'push', 'tag', 'get', 'exists', 'tree']);

function templateSegment(segment: string): string {
  const replaced = segment.replace(UUID, ID);
  return OPAQUE_ID.test(replaced) ? ID : replaced;
}

/** `/images/<name>/json` and friends: the name's slashes make it several segments. */
function templateImages(rest: string[]): string[] {
  if (rest.length === 0) return rest;
  if (rest.length === 1 && COLLECTION_ACTIONS.has(rest[0])) return rest;
  const last = rest[rest.length - 1];
  return rest.length > 1 && IMAGE_ACTIONS.has(last) ? [NAME, last] : [NAME];
}

/**
 * The template of a request path: the query is dropped, the item after an
 * engine collection becomes `{id}` (`/containers/{id}/start`), an image name
 * `{name}`, and any other segment that is (or holds) a UUID, a long hex id or a
 * number becomes `{id}`.
 */
export function pathTemplate(path: string): string {
  const bare = path.split(/[?#]/, 1)[0] || '/';
  const segments = bare.split('/');
  const out: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    out.push(templateSegment(segment));
    if (segment === 'images') {
      out.push(...templateImages(segments.slice(i + 1).filter(Boolean)));
      break;
    }
    const next = segments[i + 1];
    if (ENGINE_ITEMS.has(segment) && next && !COLLECTION_ACTIONS.has(next)) {
      out.push(segment === 'volumes' ? NAME : ID);
      i++;
    }
  }
  return out.join('/');
}

/** `POST /containers/{id}/start`: a client request's span name. */
export function clientSpanName(method: string | undefined, path: string): string {
  return `${(method || 'GET').toUpperCase()} ${pathTemplate(path)}`;
}
