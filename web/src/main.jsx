// pagedesk's reference inbox. Routes live in the URL's hash so that the app is plain static
// files: #/ (inbox), #/c/<conversation id>, #/admin/<section>. A dev link carries the token as
// #token=… (a fragment never reaches a server's logs); it is moved to sessionStorage at once.

import { render } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Api, claimsOf } from './api.js';
import { Inbox } from './inbox.jsx';
import { Conversation } from './conversation.jsx';
import { Admin } from './admin.jsx';
import { Notices } from './notices.jsx';
import { ErrorLine } from './util.jsx';

const TOKEN_KEY = 'pagedesk.token';
const API_KEY = 'pagedesk.api';

function readRoute() {
  const h = location.hash.replace(/^#/, '');
  if (h.startsWith('/c/')) return { view: 'inbox', conversation: decodeURIComponent(h.slice(3)) };
  if (h.startsWith('/admin')) return { view: 'admin', section: h.split('/')[2] || 'pages' };
  return { view: 'inbox', conversation: null };
}

// The events feed, polled once for the whole app; views subscribe to what concerns them.
// The API shows events about five seconds after they happen, so a poll every two seconds
// keeps the delay near that floor.
function useFeed(api) {
  const listeners = useRef(new Set());
  const [error, setError] = useState(null);
  useEffect(() => {
    if (!api) return undefined;
    // Start a minute back (the browser's clock may be behind the API's); a repeat only
    // causes a refresh.
    let cursor = String(Date.now() - 60_000);
    let stopped = false;
    let timer = null;
    const poll = async () => {
      try {
        for (;;) {
          const page = await api.get(`/events?after=${encodeURIComponent(cursor)}&limit=500`);
          if (page.next_cursor) cursor = page.next_cursor;
          if (page.items.length) listeners.current.forEach((l) => l(page.items));
          if (page.items.length < 500) break;
        }
        setError(null);
      } catch (e) {
        setError(e);
      }
      if (!stopped) timer = setTimeout(poll, 2000);
    };
    poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [api]);
  return useMemo(
    () => ({
      error,
      subscribe(fn) {
        listeners.current.add(fn);
        return () => listeners.current.delete(fn);
      },
    }),
    [error],
  );
}

function SignIn({ config, onSignIn, error }) {
  const [token, setToken] = useState('');
  const [apiUrl, setApiUrl] = useState(localStorage.getItem(API_KEY) || config.api_url || '');
  const submit = (e) => {
    e.preventDefault();
    onSignIn(token.trim(), apiUrl.trim());
  };
  return (
    <main class="signin">
      <h1>pagedesk</h1>
      <p>Sign in with an agent token (a JWT from your identity provider).</p>
      <form onSubmit={submit}>
        <label>
          Agent API URL
          <input type="url" required value={apiUrl} onInput={(e) => setApiUrl(e.currentTarget.value)} />
        </label>
        <label>
          Token
          <textarea required rows="4" value={token} onInput={(e) => setToken(e.currentTarget.value)} />
        </label>
        <ErrorLine error={error} />
        <button type="submit">Sign in</button>
      </form>
      {config.dev && <p class="hint">Running locally: open the link `make dev` printed to sign in as the dev admin.</p>}
    </main>
  );
}

function AgentStatus({ api, claims }) {
  const [agent, setAgent] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    api.get(`/agents/${encodeURIComponent(claims.sub)}`).then(setAgent, () => setAgent(null));
  }, [api, claims.sub]);
  if (!agent) return null;
  const next = agent.status === 'online' ? 'offline' : 'online';
  const toggle = async () => {
    try {
      setAgent(await api.put(`/agents/${encodeURIComponent(claims.sub)}`, { status: next }));
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  return (
    <span class="agent-status">
      <button type="button" class={`status-${agent.status}`} onClick={toggle} aria-label={`You are ${agent.status}: go ${next}`}>
        {agent.status === 'online' ? '● Online' : '○ Offline'}
      </button>
      <ErrorLine error={error} />
    </span>
  );
}

function App({ config }) {
  const [token, setToken] = useState(() => sessionStorage.getItem(TOKEN_KEY));
  const [apiUrl, setApiUrl] = useState(() => localStorage.getItem(API_KEY) || config.api_url || '');
  const [signInError, setSignInError] = useState(null);
  const [route, setRoute] = useState(readRoute);
  const claims = useMemo(() => (token ? claimsOf(token) : null), [token]);
  const api = useMemo(() => (token && apiUrl ? new Api(apiUrl, token) : null), [token, apiUrl]);
  const feed = useFeed(claims ? api : null);
  // Page names for saved replies' {{page.name}}: only admins may list the Pages.
  const [pageNames, setPageNames] = useState({});
  useEffect(() => {
    if (!api || claims?.role !== 'admin') return;
    api.get('/pages').then((r) => setPageNames(Object.fromEntries(r.items.map((p) => [p.page_id, p.name]))), () => {});
  }, [api, claims?.role]);

  useEffect(() => {
    const onHash = () => setRoute(readRoute());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  const signIn = async (t, url) => {
    const c = claimsOf(t);
    if (!c) {
      setSignInError({ words: 'That is not a JWT (three base64url parts).' });
      return;
    }
    try {
      // Any authenticated read proves the token and the URL.
      await new Api(url, t).get('/conversations?limit=1');
    } catch (e) {
      setSignInError(e);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, t);
    localStorage.setItem(API_KEY, url);
    setApiUrl(url);
    setToken(t);
    setSignInError(null);
  };
  const signOut = () => {
    sessionStorage.removeItem(TOKEN_KEY);
    setToken(null);
  };

  if (!api || !claims) return <SignIn config={config} onSignIn={signIn} error={signInError} />;
  const admin = claims.role === 'admin';
  return (
    <div class="app">
      <header class="top">
        <strong class="brand">pagedesk</strong>
        <nav aria-label="Main">
          <a href="#/" aria-current={route.view === 'inbox' ? 'page' : undefined}>
            Inbox
          </a>
          {admin && (
            <a href="#/admin/pages" aria-current={route.view === 'admin' ? 'page' : undefined}>
              Admin
            </a>
          )}
        </nav>
        <span class="who">
          {claims.sub} · {claims.role} · {claims.account}
        </span>
        {claims.role !== 'bot' && <AgentStatus api={api} claims={claims} />}
        {claims.role !== 'bot' && claims.sub && <Notices api={api} claims={claims} feed={feed} />}
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      {feed.error && (
        <p class="error banner" role="alert">
          Live updates paused: {feed.error.words}
        </p>
      )}
      {route.view === 'admin' && admin ? (
        <Admin api={api} config={config} claims={claims} section={route.section} feed={feed} />
      ) : (
        <div class="panes">
          <Inbox api={api} claims={claims} feed={feed} selected={route.conversation} />
          {route.conversation ? (
            <Conversation key={route.conversation} api={api} claims={claims} feed={feed} id={route.conversation} pageNames={pageNames} />
          ) : (
            <section class="empty-pane" aria-label="Conversation">
              <p>Choose a conversation.</p>
            </section>
          )}
        </div>
      )}
    </div>
  );
}

async function start() {
  // The dev link's token, taken out of the address bar before anything else runs.
  const m = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search + '#/');
  }
  let config = {};
  try {
    const r = await fetch('config.json', { cache: 'no-store' });
    if (r.ok) config = await r.json();
  } catch {
    // A static host without config.json: the sign-in form asks for the API URL.
  }
  if (config.api_url && !localStorage.getItem(API_KEY)) localStorage.setItem(API_KEY, config.api_url);
  if (config.dev && config.api_url) localStorage.setItem(API_KEY, config.api_url);
  const root = document.getElementById('app');
  root.textContent = '';
  render(<App config={config} />, root);
  performance.mark('pagedesk-rendered');
}

start();
