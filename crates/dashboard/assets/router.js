// Hash routing: `#/apis`, `#/apis/<id>`, `#/apis/<id>/clients/<client id>`, ...
// Route patterns name their parameters with a leading colon; values are URL-decoded.

const routes = [];
let notFound = null;

/** Registers `render(params)` for `pattern`, e.g. '/apis/:api/clients/:client'. */
export function route(pattern, render) {
  const parts = pattern.split('/').filter(Boolean);
  routes.push({ parts, render });
}

export function fallback(render) {
  notFound = render;
}

/** The current route's path, without the '#'. */
export function current() {
  const hash = window.location.hash.replace(/^#/, '');
  return hash.startsWith('/') ? hash : `/${hash}`;
}

/** Finds the route for `path`: { render, params } or null. */
export function match(path) {
  const segments = path.split('?')[0].split('/').filter(Boolean);
  for (const { parts, render } of routes) {
    if (parts.length !== segments.length) continue;
    const params = {};
    let ok = true;
    for (let i = 0; i < parts.length; i += 1) {
      if (parts[i].startsWith(':')) {
        try {
          params[parts[i].slice(1)] = decodeURIComponent(segments[i]);
        } catch {
          ok = false;
          break;
        }
      } else if (parts[i] !== segments[i]) {
        ok = false;
        break;
      }
    }
    if (ok) return { render, params };
  }
  return null;
}

/** The href of a route: link('apis', id, 'clients') → '#/apis/<id>/clients'. */
export function link(...segments) {
  return `#/${segments.map((s) => encodeURIComponent(String(s))).join('/')}`;
}

/** Goes to a route (adds a history entry). */
export function go(...segments) {
  const target = link(...segments);
  if (window.location.hash === target) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else window.location.hash = target;
}

/** Renders the current route; returns what the render returned (a promise, usually). */
export function dispatch() {
  const path = current();
  const found = match(path);
  if (found) return found.render(found.params);
  if (notFound) return notFound(path);
  return null;
}
