// The dashboard's entry point: sign-in, the navigation bar, and the routes.

import * as api from './api.js';
import * as router from './router.js';
import { h, main, replace, field, input, formError, toast } from './dom.js';
import * as overview from './pages/overview.js';
import * as apis from './pages/apis.js';
import * as oas from './pages/oas.js';
import * as clients from './pages/clients.js';
import * as policies from './pages/policies.js';
import * as analytics from './pages/analytics.js';
import * as users from './pages/users.js';

let signedIn = false;
let generation = 0;
let focusOnRender = false;

/** A page being rendered: `show` puts its nodes in <main> unless the user has moved on. */
function newView() {
  generation += 1;
  const mine = generation;
  return {
    alive: () => mine === generation,
    show(...nodes) {
      if (mine !== generation) return false;
      replace(main(), ...nodes);
      if (focusOnRender) {
        const title = document.getElementById('page-title');
        if (title) title.focus();
      }
      return true;
    },
  };
}

function page(render) {
  return (params) => {
    const view = newView();
    return Promise.resolve(render(params, view)).catch((error) => {
      if (error && error.sessionEnded) return; // the sign-in page is already up
      view.show(h('h1', { id: 'page-title', tabindex: '-1' }, 'Something went wrong'),
        h('p', { class: 'form-error', id: 'page-error', role: 'alert' }, error.message || String(error)));
    });
  };
}

router.route('/', page(overview.render));
router.route('/overview', page(overview.render));
router.route('/apis', page(apis.renderList));
router.route('/apis/new', page(apis.renderNew));
router.route('/apis/import', page(oas.renderImport));
router.route('/apis/:api', page(apis.renderEdit));
router.route('/apis/:api/export', page(oas.renderExport));
router.route('/apis/:api/export/classic', page(oas.renderExportClassic));
router.route('/apis/:api/clients', page(clients.renderList));
router.route('/apis/:api/clients/new', page(clients.renderNew));
router.route('/apis/:api/clients/:client', page(clients.renderEdit));
router.route('/policies', page(policies.renderList));
router.route('/policies/new', page(policies.renderNew));
router.route('/policies/:policy', page(policies.renderEdit));
router.route('/analytics', page(analytics.render));
router.route('/analytics/:client', page(analytics.render));
router.route('/users', page(users.render));
router.fallback(page(() => {
  throw new Error(`There is no page at ${window.location.hash}.`);
}));

function highlightNav() {
  const section = router.current().split('/').filter(Boolean)[0] || 'overview';
  for (const link of document.querySelectorAll('#nav a[data-section]')) {
    if (link.dataset.section === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

function showChrome(visible) {
  document.getElementById('topbar').hidden = !visible;
}

/** The sign-in page; `notice` explains why it is shown (session ended, signed out). */
function showSignIn(notice) {
  signedIn = false;
  generation += 1;
  showChrome(false);
  const secret = input('signin-secret', {
    type: 'password', autocomplete: 'current-password', required: true, spellcheck: 'false',
  });
  const submit = h('button', { type: 'submit', id: 'signin-submit', class: 'primary' }, 'Sign in');
  const error = formError('signin-error');
  const form = h('form', { id: 'signin-form', class: 'card signin', novalidate: true },
    h('h1', { id: 'page-title', tabindex: '-1' }, 'Sign in to Gatehouse'),
    notice ? h('p', { class: 'notice', id: 'signin-notice', role: 'status' }, notice) : null,
    error,
    field('Admin secret', secret, 'The control plane\'s admin secret (--admin-secret). It is used once, to start a session.'),
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.hidden = true;
    if (!secret.value) {
      error.textContent = 'Enter the admin secret.';
      error.hidden = false;
      secret.focus();
      return;
    }
    submit.disabled = true;
    try {
      await api.signIn(secret.value);
      secret.value = '';
      signedIn = true;
      showChrome(true);
      if (!window.location.hash || window.location.hash === '#/signin') router.go('overview');
      else render();
    } catch (e) {
      let message = e.message;
      if (e.status === 429) {
        message = `Too many wrong tries: ${e.message}`;
        if (e.retryAfter) message += ` Try again in ${e.retryAfter} s.`;
      }
      error.textContent = message;
      error.hidden = false;
      secret.select();
      secret.focus();
    } finally {
      submit.disabled = false;
    }
  });
  replace(main(), h('div', { class: 'signin-wrap' }, form));
  secret.focus();
}

function render() {
  if (!signedIn) return;
  highlightNav();
  closeMenu();
  router.dispatch();
}

function closeMenu() {
  const toggle = document.getElementById('nav-toggle');
  toggle.setAttribute('aria-expanded', 'false');
  document.getElementById('nav').classList.remove('open');
}

function wireChrome() {
  document.getElementById('nav-toggle').addEventListener('click', (event) => {
    const open = event.currentTarget.getAttribute('aria-expanded') !== 'true';
    event.currentTarget.setAttribute('aria-expanded', String(open));
    document.getElementById('nav').classList.toggle('open', open);
  });
  document.getElementById('signout').addEventListener('click', async () => {
    try {
      await api.signOut();
    } catch (e) {
      toast(`Sign-out: ${e.message}`, 'error');
    }
    showSignIn('You have signed out.');
  });
  document.getElementById('skip-link').addEventListener('click', () => {
    const title = document.getElementById('page-title');
    (title || main()).focus();
  });
  window.addEventListener('hashchange', () => {
    focusOnRender = true;
    if (signedIn) render();
  });
  api.onSessionEnded(() => {
    if (signedIn) showSignIn('Your session has ended; sign in again.');
  });
}

async function start() {
  wireChrome();
  try {
    const session = await api.resume();
    if (session) {
      signedIn = true;
      showChrome(true);
      render();
    } else {
      showSignIn(null);
    }
  } catch (e) {
    showSignIn(`The control plane could not be reached: ${e.message}`);
  }
}

start();
