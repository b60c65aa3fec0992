// The agent API client: one place that turns HTTP answers into data or an ApiError whose
// `words` a person can read. Nothing here retries on its own: the caller shows the error.

export class ApiError extends Error {
  constructor(status, body, words) {
    super(words);
    this.status = status;
    this.body = body;
    this.code = body?.error?.code ?? null;
    this.words = words;
  }
}

// What the API's error codes mean to someone using the inbox. The API's own message is shown
// as well when it says more (it names the field or the state).
const CODE_WORDS = {
  unauthorized: 'Your sign-in was refused (token missing, expired or not for this API). Sign in again.',
  forbidden: 'Your role may not do this.',
  not_found: 'Not found: it was removed, or it belongs to another account.',
  invalid_parameter: 'The request had a bad parameter.',
  invalid_request: 'The API refused what was sent.',
  unavailable: 'The service is briefly unavailable. Try again in a moment.',
  internal: 'The API failed unexpectedly. Try again; if it persists, tell your administrator.',
  conversation_not_open: 'This conversation is resolved: reopen it first.',
  not_resolved: 'This conversation is not resolved.',
  contact_has_open_conversation: 'This person already has another open conversation.',
  already_assigned: 'Someone else has already claimed this conversation.',
  conversation_changing: 'The conversation changed at the same moment. Try again.',
  not_with_ai_agent: 'The AI agent does not hold this conversation.',
  rules_changed: 'Someone else changed the routing rules meanwhile. Reload them and edit again.',
  page_registered_elsewhere: 'Another account has connected this Page.',
  page_not_connected: 'This Page is not connected.',
  import_running: 'An import of this Page is already running.',
  window_closed: "Meta's messaging window is closed: the person has to write again first.",
  private_reply_exists: 'This comment already has its one private reply.',
  private_reply_window_closed: 'A private reply is only possible within 7 days of the comment.',
  token_not_for_page: 'That token is not a token of this Page.',
};

export function errorWords(status, body) {
  const e = body?.error;
  const known = e?.code && CODE_WORDS[e.code];
  const parts = [];
  if (known) parts.push(known);
  if (e?.message && e.message !== known) parts.push(e.message);
  if (Array.isArray(e?.problems) && e.problems.length) parts.push(e.problems.join('; '));
  if (!parts.length) parts.push(`The API answered ${status}.`);
  return parts.join(' — ');
}

export class Api {
  constructor(base, token) {
    this.base = base.replace(/\/+$/, '');
    this.token = token;
  }

  async request(method, path, body) {
    const headers = { authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let resp;
    try {
      resp = await fetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, null, `The agent API at ${this.base} cannot be reached (network or CORS).`);
    }
    if (resp.status === 204) return null;
    const text = await resp.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // A proxy's HTML page, say: the status still says what happened.
    }
    if (!resp.ok) throw new ApiError(resp.status, json, errorWords(resp.status, json));
    return json;
  }

  get(path) {
    return this.request('GET', path);
  }
  post(path, body = {}) {
    return this.request('POST', path, body);
  }
  put(path, body) {
    return this.request('PUT', path, body);
  }
  del(path) {
    return this.request('DELETE', path);
  }
}

export function query(params) {
  const q = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '');
  return q.length ? '?' + q.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&') : '';
}

// The token's claims, read (not verified: the API verifies every call) to decide what to show.
export function claimsOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(
      atob(part)
        .split('')
        .map((c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0'))
        .join(''),
    );
    const c = JSON.parse(json);
    return { sub: c.sub ?? null, account: c.account ?? null, role: c.role ?? 'agent', exp: c.exp ?? null };
  } catch {
    return null;
  }
}
