// "Try it": a client_credentials token for a client, then a call to its API with that token,
// sent to the gateway by the control plane on the page's behalf (the page may only connect to
// its own origin). Shown when the control plane knows a gateway's address (`gatehouse dev`,
// or `--gateway-url`) and the API takes the client_credentials grant.

import * as api from '../api.js';
import { h, field, input, button, formError, showError } from '../dom.js';

/** The gateway's answer: status, what was sent, and the body (as received, not interpreted). */
function answerView(id, answer) {
  const ok = answer.status >= 200 && answer.status < 300;
  return h('div', { id, class: 'try-answer', role: 'status' },
    h('p', {},
      h('span', { class: ok ? 'badge badge-ok' : 'badge badge-warn', dataset: { test: 'try-status' } }, String(answer.status)),
      ' ', h('code', {}, answer.request)),
    h('pre', { class: 'code' }, answer.body || '(empty)'));
}

/** The panel for `client` of API `item`; `secret` fills the secret field when it is known. */
export function tryPanel(item, client, secret) {
  const session = api.session();
  const grants = (item.oauth && item.oauth.allowed_grant_types) || [];
  if (!session || !session.gatewayUrl || client.public_client || !grants.includes('client_credentials')) return null;

  const secretInput = input('try-secret', { type: 'password', autocomplete: 'off', spellcheck: 'false', value: secret || '' });
  const tokenInput = input('try-access-token', { autocomplete: 'off', spellcheck: 'false' });
  const pathInput = input('try-path', { value: '/', autocomplete: 'off', spellcheck: 'false' });
  const tokenAnswer = h('div', { id: 'try-token-answer-holder' });
  const callAnswer = h('div', { id: 'try-call-answer-holder' });
  const error = formError('try-error');

  const tokenForm = h('form', { id: 'try-token-form', class: 'inline-form', novalidate: true },
    field('Client secret', secretInput, secret ? 'The secret just shown.' : 'The client\'s secret: Gatehouse cannot show it again.'),
    h('button', { type: 'submit', id: 'try-token', class: 'primary' }, 'Get a token'));
  tokenForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.hidden = true;
    try {
      const answer = await api.tryIt({
        action: 'token', api_id: item.api_id, client_id: client.client_id, client_secret: secretInput.value,
      });
      tokenAnswer.replaceChildren(answerView('try-token-answer', answer));
      try {
        const body = JSON.parse(answer.body);
        if (body && typeof body.access_token === 'string') tokenInput.value = body.access_token;
      } catch {
        // Not a token answer: shown as it came.
      }
    } catch (e) {
      if (!e.sessionEnded) showError(panel, e, { path: 'try-path' });
    }
  });

  const callForm = h('form', { id: 'try-call-form', class: 'inline-form', novalidate: true },
    field('Access token', tokenInput, 'Filled in by "Get a token"; or paste one.'),
    field(`Path below ${item.listen_path}`, pathInput),
    h('button', { type: 'submit', id: 'try-call', class: 'primary' }, 'Call the API'));
  callForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.hidden = true;
    try {
      const answer = await api.tryIt({
        action: 'call', api_id: item.api_id, access_token: tokenInput.value, path: pathInput.value,
      });
      callAnswer.replaceChildren(answerView('try-call-answer', answer));
    } catch (e) {
      if (!e.sessionEnded) showError(panel, e, { path: 'try-path' });
    }
  });

  const panel = h('section', { class: 'card', id: 'try-panel', 'aria-labelledby': 'try-title' },
    h('h2', { id: 'try-title' }, 'Try it'),
    h('p', { class: 'hint' }, 'Sent to the gateway at ', h('code', {}, session.gatewayUrl),
      ' by the control plane, as your app would send them.'),
    error, tokenForm, tokenAnswer, callForm, callAnswer);
  return panel;
}
