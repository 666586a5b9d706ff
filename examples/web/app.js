// Steward's web example: a customer signs in at the company's OpenID provider (authorization
// code + PKCE S256, with oauth4webapi), links their customer record with a code from customer
// service or registers, then sees their own data through Steward's `me`.
//
// The access token is asked for Steward's resource indicator (RFC 8707) and kept in
// sessionStorage only for this tab; nothing is inline, so the page's CSP forbids inline script.
import * as oauth from '/vendor/oauth4webapi.js';

const STORE = 'steward-example:';
const RIGHT_TO_LEFT = new Set(['fa']);

const $ = (selector) => document.querySelector(selector);
const config = await (await fetch('/config.json')).json();
const issuer = new URL(config.issuer);
const client = { client_id: config.client_id };
const redirectUri = `${location.origin}/`;
// oauth4webapi refuses plain http, except where we say so: a provider on this machine.
const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(issuer.hostname);
const options = loopback ? { [oauth.allowInsecureRequests]: true } : {};

function show(id) {
  for (const section of ['#signed-out', '#unlinked', '#customer']) $(section).hidden = section !== id;
  $('#sign-out').hidden = id === '#signed-out';
}

function status(text) {
  $('#status').textContent = text;
}

function fail(error) {
  $('#error').hidden = false;
  $('#error').textContent = error instanceof Error ? error.message : String(error);
}

function clearError() {
  $('#error').hidden = true;
  $('#error').textContent = '';
}

async function authorizationServer() {
  const response = await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...options });
  return oauth.processDiscoveryResponse(issuer, response);
}

async function signIn() {
  const as = await authorizationServer();
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  sessionStorage.setItem(`${STORE}verifier`, verifier);
  sessionStorage.setItem(`${STORE}state`, state);
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: client.client_id,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: config.scope,
    resource: config.resource,
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url.href);
}

async function finishSignIn(current) {
  const verifier = sessionStorage.getItem(`${STORE}verifier`);
  const state = sessionStorage.getItem(`${STORE}state`);
  sessionStorage.removeItem(`${STORE}verifier`);
  sessionStorage.removeItem(`${STORE}state`);
  history.replaceState(null, '', '/');
  if (!verifier || !state) throw new Error('This sign-in was not started here: sign in again.');
  const as = await authorizationServer();
  const params = oauth.validateAuthResponse(as, client, current, state);
  const response = await oauth.authorizationCodeGrantRequest(
    as, client, oauth.None(), params, redirectUri, verifier,
    { additionalParameters: { resource: config.resource }, ...options },
  );
  const result = await oauth.processAuthorizationCodeResponse(as, client, response);
  sessionStorage.setItem(`${STORE}token`, result.access_token);
}

class SignedOut extends Error {}

async function graphql(query, variables = {}) {
  const token = sessionStorage.getItem(`${STORE}token`);
  if (!token) throw new SignedOut();
  const response = await fetch(`${config.api}/graphql`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  if (response.status === 401) {
    sessionStorage.removeItem(`${STORE}token`);
    throw new SignedOut();
  }
  const body = await response.json();
  if (body.errors?.length) throw new Error(body.errors.map((error) => error.message).join(' '));
  return body.data;
}

const ME = `query Me {
  me {
    id firstName lastName email mobilePhone country preferredLanguage
    consents { id purpose status source recordedAt recipient }
    accessLog { occurredAt clientId purpose fields }
    disclosures { at purpose fields recipient { name clientId } }
  }
}`;
const POLICY = `query Purposes($language: String) {
  policy(language: $language) { language purposes { id title description consentRequired } }
}`;

function cell(row, text) {
  const td = document.createElement('td');
  td.textContent = text ?? '';
  row.append(td);
}

function fillTable(selector, rows, columns) {
  const body = $(`${selector} tbody`);
  body.replaceChildren();
  for (const item of rows) {
    const row = document.createElement('tr');
    for (const column of columns) cell(row, column(item));
    body.append(row);
  }
  if (!rows.length) {
    const row = document.createElement('tr');
    cell(row, 'Nothing yet.');
    body.append(row);
  }
}

function when(value) {
  return value ? new Date(value).toLocaleString() : '';
}

async function purposesIn(language) {
  const { policy } = await graphql(POLICY, { language });
  return policy;
}

function renderProfile(me) {
  const list = $('#profile');
  list.replaceChildren();
  const entries = [
    ['Name', [me.firstName, me.lastName].filter(Boolean).join(' ')],
    ['Email', me.email], ['Mobile', me.mobilePhone], ['Country', me.country],
    ['Language', me.preferredLanguage],
  ];
  for (const [label, value] of entries) {
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    dd.textContent = value ?? '';
    list.append(dt, dd);
  }
}

function renderConsents(me, policy) {
  const list = $('#consents');
  list.replaceChildren();
  list.lang = policy.language;
  list.dir = RIGHT_TO_LEFT.has(policy.language) ? 'rtl' : 'ltr';
  for (const purpose of policy.purposes.filter((p) => p.consentRequired)) {
    const enumValue = purpose.id.toUpperCase();
    const current = me.consents.find((c) => c.purpose === enumValue && c.recipient === null);
    const item = document.createElement('li');
    item.dataset.purpose = enumValue;
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = current?.status === 'GRANTED';
    box.addEventListener('change', () => toggleConsent(enumValue, box.checked, policy.language));
    label.append(box, ` ${purpose.title}`);
    const description = document.createElement('p');
    description.className = 'purpose-description';
    description.textContent = purpose.description;
    item.append(label, description);
    list.append(item);
  }
}

async function toggleConsent(purpose, granted, language) {
  clearError();
  try {
    await graphql(
      `mutation Toggle($purpose: Purpose!, $granted: Boolean!, $notice: String, $language: String) {
        setMyConsent(purpose: $purpose, granted: $granted, noticeVersion: $notice, language: $language) { status }
      }`,
      { purpose, granted, notice: config.notice_version, language },
    );
  } catch (error) {
    fail(error);
  }
  await refresh();
}

function render(me, policy) {
  document.documentElement.lang = policy.language;
  document.documentElement.dir = RIGHT_TO_LEFT.has(policy.language) ? 'rtl' : 'ltr';
  renderProfile(me);
  renderConsents(me, policy);
  fillTable('#access-log', me.accessLog, [
    (r) => when(r.occurredAt), (r) => r.clientId, (r) => r.purpose, (r) => (r.fields ?? []).join(', '),
  ]);
  fillTable('#disclosures', me.disclosures, [
    (d) => when(d.at), (d) => d.recipient?.name ?? d.recipient?.clientId, (d) => d.purpose,
    (d) => (d.fields ?? []).join(', '),
  ]);
  show('#customer');
  status('Signed in.');
}

async function renderRegistration() {
  const language = $('#register-language').value;
  const policy = await purposesIn(language);
  const fieldset = $('#register-consents');
  fieldset.lang = policy.language;
  fieldset.dir = RIGHT_TO_LEFT.has(policy.language) ? 'rtl' : 'ltr';
  fieldset.querySelectorAll('label, p').forEach((element) => element.remove());
  for (const purpose of policy.purposes.filter((p) => p.consentRequired)) {
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.name = 'consent';
    box.value = purpose.id.toUpperCase();
    label.append(box, ` ${purpose.title}`);
    const description = document.createElement('p');
    description.className = 'purpose-description';
    description.textContent = purpose.description;
    fieldset.append(label, description);
  }
}

async function refresh() {
  try {
    const { me } = await graphql(ME);
    if (me === null) {
      show('#unlinked');
      status('Signed in, but not linked to a customer record yet.');
      await renderRegistration();
      return;
    }
    // The policy's texts come in the customer's language (fa-IR counts as fa), else English.
    render(me, await purposesIn(me.preferredLanguage));
  } catch (error) {
    if (error instanceof SignedOut) {
      show('#signed-out');
      status('Signed out.');
      return;
    }
    fail(error);
  }
}

$('#sign-in').addEventListener('click', () => signIn().catch(fail));
$('#sign-out').addEventListener('click', () => {
  sessionStorage.removeItem(`${STORE}token`);
  show('#signed-out');
  status('Signed out.');
});
$('#register-language').addEventListener('change', () => renderRegistration().catch(fail));

$('#link-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  clearError();
  try {
    await graphql('mutation Link($code: String!) { linkMe(code: $code) { id } }', {
      code: $('#link-code').value.trim(),
    });
    await refresh();
  } catch (error) {
    fail(error);
  }
});

$('#register-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  clearError();
  const form = new FormData(event.target);
  const language = form.get('preferredLanguage');
  const chosen = new Set(form.getAll('consent'));
  const consentBased = [...event.target.querySelectorAll('input[name=consent]')].map((box) => box.value);
  const input = {
    firstName: form.get('firstName'),
    lastName: form.get('lastName'),
    email: form.get('email') || null,
    country: form.get('country'),
    preferredLanguage: language,
    consents: consentBased.map((purpose) => ({
      purpose,
      granted: chosen.has(purpose),
      source: 'WEB',
      noticeVersion: config.notice_version,
      language,
    })),
  };
  try {
    await graphql('mutation Register($input: RegisterMeInput!) { registerMe(input: $input) { id } }', { input });
    await refresh();
  } catch (error) {
    fail(error);
  }
});

try {
  const current = new URL(location.href);
  if (current.searchParams.has('code') || current.searchParams.has('error')) {
    status('Signing in…');
    await finishSignIn(current);
  }
} catch (error) {
  fail(error);
}
await refresh();
