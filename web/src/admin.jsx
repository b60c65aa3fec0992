// What admins manage: Pages (connect, status, reconnect), agents, routing rules (in order),
// settings, and the CSAT report.

import { useEffect, useState } from 'preact/hooks';
import { query } from './api.js';
import { CHANNELS, ErrorLine } from './util.jsx';
import { SettingsForm } from './settings.jsx';
import { fullTime } from './logic.js';

const SECTIONS = [
  ['pages', 'Pages'],
  ['agents', 'Agents'],
  ['rules', 'Routing rules'],
  ['settings', 'Settings'],
  ['csat', 'Satisfaction'],
];

// The permissions pagedesk asks for at Facebook Login (README "Deploying").
const SCOPES = [
  'pages_show_list',
  'pages_manage_metadata',
  'pages_messaging',
  'pages_read_engagement',
  'pages_read_user_engagement',
  'pages_manage_engagement',
  'leads_retrieval',
  'ads_management',
  'instagram_basic',
  'instagram_manage_messages',
  'instagram_manage_comments',
].join(',');

function useLoad(fn, deps) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const reload = async () => {
    try {
      setData(await fn());
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    reload();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return [data, error, reload, setData];
}

// Facebook's JavaScript SDK, loaded only when an admin connects a Page with a real Meta app.
function facebookLogin(appId, version) {
  return new Promise((resolve, reject) => {
    const go = () =>
      window.FB.login(
        (r) => (r.authResponse ? resolve(r.authResponse.accessToken) : reject(new Error('Facebook Login was cancelled.'))),
        { scope: SCOPES, auth_type: 'rerequest', return_scopes: true },
      );
    if (window.FB) return go();
    window.fbAsyncInit = () => {
      window.FB.init({ appId, version: version || 'v25.0', xfbml: false });
      go();
    };
    const s = document.createElement('script');
    s.src = 'https://connect.facebook.net/en_US/sdk.js';
    s.async = true;
    s.onerror = () => reject(new Error("Facebook's SDK could not be loaded."));
    document.head.appendChild(s);
  });
}

function ConnectPages({ api, config, rules, onDone, reconnect }) {
  const [mode, setMode] = useState('only_me');
  const [rule, setRule] = useState('');
  const [importDays, setImportDays] = useState(0);
  const [simName, setSimName] = useState('Demo Admin');
  const [simPageId, setSimPageId] = useState(reconnect?.page_id || '');
  const [simPageName, setSimPageName] = useState(reconnect?.name || '');
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const connect = async (userToken) => {
    const body = { user_access_token: userToken, sharing: mode === 'only_me' ? { mode } : { mode, rule } };
    if (reconnect) body.page_ids = [reconnect.page_id];
    if (importDays > 0) body.import_history = { days: Number(importDays), assign: 'rules' };
    const r = await api.post('/pages/connect', body);
    setResult(r.pages);
    onDone();
  };
  const run = (login) => async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      await connect(await login());
    } catch (err) {
      setError(err.words ? err : { words: err.message });
    }
    setBusy(false);
  };
  // The local simulator plays Facebook Login: a person who manages these Pages logs in.
  const simLogin = async () => {
    const resp = await fetch(`${config.sim_url}/_sim/fb-users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        id: String(100000000000000 + Math.floor(Math.random() * 899999999)),
        name: simName,
        pages: [{ id: simPageId, name: simPageName || `Page ${simPageId}` }],
      }),
    });
    if (!resp.ok) throw new Error(`The simulator answered ${resp.status}.`);
    return (await resp.json()).user_access_token;
  };

  return (
    <form class="card" onSubmit={(e) => e.preventDefault()} aria-label={reconnect ? `Reconnect ${reconnect.name || reconnect.page_id}` : 'Connect Pages'}>
      <h3>{reconnect ? `Reconnect ${reconnect.name || reconnect.page_id}` : 'Connect Pages'}</h3>
      <fieldset>
        <legend>Who answers these Pages?</legend>
        <label class="inline">
          <input type="radio" name="sharing" checked={mode === 'only_me'} onChange={() => setMode('only_me')} /> Only me
        </label>
        <label class="inline">
          <input type="radio" name="sharing" checked={mode === 'shared'} onChange={() => setMode('shared')} /> Shared, by the rule
          <select value={rule} onChange={(e) => setRule(e.currentTarget.value)} disabled={mode !== 'shared'} aria-label="Rule to share with">
            <option value="">Choose a rule</option>
            {(rules || []).map((r) => (
              <option value={r.name}>{r.name}</option>
            ))}
          </select>
        </label>
      </fieldset>
      <label>
        Import Messenger history (days, 0 = none)
        <input type="number" min="0" max="90" value={importDays} onInput={(e) => setImportDays(e.currentTarget.value)} />
      </label>
      {config.facebook_app_id && (
        <button type="button" class="facebook" disabled={busy || (mode === 'shared' && !rule)} onClick={run(() => facebookLogin(config.facebook_app_id, config.graph_version))}>
          Continue with Facebook
        </button>
      )}
      {!config.facebook_app_id && config.sim_url && (
        <fieldset>
          <legend>Facebook Login (local simulator)</legend>
          <label>
            Your name
            <input value={simName} onInput={(e) => setSimName(e.currentTarget.value)} />
          </label>
          <label>
            Page id
            <input required inputMode="numeric" pattern="[0-9]{1,20}" value={simPageId} onInput={(e) => setSimPageId(e.currentTarget.value)} />
          </label>
          <label>
            Page name
            <input value={simPageName} onInput={(e) => setSimPageName(e.currentTarget.value)} />
          </label>
          <button type="button" disabled={busy || !/^[0-9]{1,20}$/.test(simPageId) || (mode === 'shared' && !rule)} onClick={run(simLogin)}>
            Log in with the simulator and connect
          </button>
        </fieldset>
      )}
      {!config.facebook_app_id && !config.sim_url && <p class="hint">Set facebook_app_id in config.json to connect Pages with Facebook Login.</p>}
      <ErrorLine error={error} />
      {result && (
        <ul class="results" aria-label="Connect results">
          {result.map((p) => (
            <li>
              {p.name || p.page_id}: <strong>{p.result.replace(/_/g, ' ')}</strong>
              {p.missing_permissions?.length ? ` (missing ${p.missing_permissions.join(', ')})` : ''}
            </li>
          ))}
        </ul>
      )}
    </form>
  );
}

function Pages({ api, config, feed }) {
  const [data, error, reload] = useLoad(() => api.get('/pages'), [api]);
  const [rules] = useLoad(() => api.get('/routing-rules').then((r) => r.rules), [api]);
  const [reconnect, setReconnect] = useState(null);
  const [open, setOpen] = useState(null);
  const [actionError, setActionError] = useState(null);
  useEffect(() => feed.subscribe((events) => events.some((e) => e.type.startsWith('page.')) && reload()), [feed]);
  const channel = async (p, ch, on) => {
    try {
      await api.put(`/pages/${p.page_id}`, { channels: { ...p.channels, [ch]: on } });
      setActionError(null);
      reload();
    } catch (e) {
      setActionError(e);
    }
  };
  const disconnect = async (p) => {
    if (!confirm(`Disconnect ${p.name || p.page_id}? Its conversations stay; new messages stop arriving.`)) return;
    try {
      await api.del(`/pages/${p.page_id}`);
      reload();
    } catch (e) {
      setActionError(e);
    }
  };
  const names = { messenger: CHANNELS.messenger, comments: 'Comments', leads: 'Lead ads' };
  // Instagram's switches show only for a Page with a linked Instagram account.
  const igNames = { instagram: 'Instagram Direct', instagram_comment: 'Instagram comments' };
  return (
    <>
      <ErrorLine error={error || actionError} />
      <table class="list" aria-label="Pages">
        <thead>
          <tr>
            <th>Page</th>
            <th>Status</th>
            <th>Channels</th>
            <th>Last check</th>
            <th>Import</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(data?.items || []).map((p) => (
            <tr data-page={p.page_id}>
              <td>
                {p.name || '—'}
                <br />
                <small>{p.page_id}</small>
              </td>
              <td>
                <span class={`badge status-${p.status}`}>{p.status.replace(/_/g, ' ')}</span>
                {p.status_reason && <p class="hint">{p.status_reason}</p>}
                {p.instagram && (
                  <p class="hint instagram-link">
                    Instagram @{p.instagram.username || p.instagram.id}
                    {p.instagram.status === 'missing_permissions' && ` · missing ${p.instagram.missing_permissions.join(', ')}: reconnect to grant`}
                    {p.instagram.status === 'not_subscribed' && ' · the app\'s Instagram webhook is incomplete: see the Page diagnostics and the App Dashboard'}
                  </p>
                )}
              </td>
              <td>
                {Object.keys(names).map((ch) => (
                  <label class="inline">
                    <input type="checkbox" checked={p.channels?.[ch] !== false} onChange={(e) => channel(p, ch, e.currentTarget.checked)} /> {names[ch]}
                  </label>
                ))}
                {p.instagram &&
                  Object.keys(igNames).map((ch) => (
                    <label class="inline">
                      <input type="checkbox" checked={p.channels?.[ch] !== false} onChange={(e) => channel(p, ch, e.currentTarget.checked)} /> {igNames[ch]}
                    </label>
                  ))}
              </td>
              <td>{fullTime(p.last_check_at) || '—'}</td>
              <td>{p.import ? `${p.import.status}: ${p.import.conversations ?? 0} conversations, ${p.import.messages ?? 0} messages` : '—'}</td>
              <td>
                <button type="button" onClick={() => setOpen(open === p.page_id ? null : p.page_id)} aria-label={`Settings of ${p.name || p.page_id}`}>
                  Settings
                </button>{' '}
                <button type="button" onClick={() => setReconnect(p)}>
                  Reconnect
                </button>{' '}
                <button type="button" onClick={() => disconnect(p)}>
                  Disconnect
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {open && <PageInbox key={open} api={api} pageId={open} rules={rules} />}
      {reconnect && <ConnectPages key={reconnect.page_id} api={api} config={config} rules={rules} reconnect={reconnect} onDone={reload} />}
      <ConnectPages api={api} config={config} rules={rules} onDone={reload} />
    </>
  );
}

// One Page as an inbox of its own: its settings over the account's, the rules that name it, and
// the agents who may work it.
function PageInbox({ api, pageId, rules }) {
  const [page, , , setPage] = useLoad(() => api.get(`/pages/${pageId}`), [api, pageId]);
  const [shareError, setShareError] = useState(null);
  const naming = (rules || []).filter((r) => (r.match?.pages || []).includes(pageId));
  const onlyMe = page?.sharing?.mode === 'only_me';
  // Sharing answers with the Page as GET shows it, so the panel shows the change at once.
  const share = async (mode) => {
    try {
      setPage(await api.put(`/pages/${pageId}/sharing`, { mode }));
      setShareError(null);
    } catch (e) {
      setShareError(e);
    }
  };
  return (
    <section class="card page-inbox" aria-label={`Page ${pageId}`}>
      <h3>{page?.name || pageId}</h3>
      <p>
        Agents who may work it: {(page?.agents || []).join(', ') || 'none'} (admins work every Page).
        Rules that name it: {naming.map((r) => r.name).join(', ') || 'none'}.
      </p>
      <p class="sharing">
        {onlyMe ? `Only ${page.sharing.admin} works this Page; agents do not see it.` : 'Shared with the agents given it.'}{' '}
        <button type="button" onClick={() => share(onlyMe ? 'shared' : 'only_me')}>
          {onlyMe ? 'Share with the team' : 'Only me'}
        </button>
      </p>
      <ErrorLine error={shareError} />
      <Diagnostics api={api} pageId={pageId} />
      <SettingsForm api={api} pageId={pageId} />
    </section>
  );
}

// "Why is nothing arriving?": asked of Graph only when the admin asks.
function Diagnostics({ api, pageId }) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const run = async () => {
    try {
      setData(await api.get(`/pages/${pageId}/diagnostics`));
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  return (
    <div class="diagnostics" aria-label="Diagnostics">
      <button type="button" onClick={run}>
        Why is nothing arriving?
      </button>
      <ErrorLine error={error} />
      {data && (
        <>
          <p>
            Last webhook: {fullTime(data.last_webhook_at) || 'none yet'}. Subscribed fields missing:{' '}
            {data.subscription?.missing?.join(', ') || (data.subscription?.error ? `unknown (${data.subscription.error})` : 'none')}. Messages
            found without a webhook: {data.reconciliation.reconciled_messages}.
          </p>
          <ul>
            {data.findings.length ? data.findings.map((f) => <li data-finding={f.code}>{f.message}</li>) : <li>Nothing wrong found.</li>}
          </ul>
        </>
      )}
    </div>
  );
}

function Agents({ api }) {
  const [data, error, reload] = useLoad(() => api.get('/agents'), [api]);
  const [form, setForm] = useState({ id: '', name: '', max_concurrent: '' });
  const [actionError, setActionError] = useState(null);
  const save = async (id, body) => {
    try {
      await api.put(`/agents/${encodeURIComponent(id)}`, body);
      setActionError(null);
      reload();
      return true;
    } catch (e) {
      setActionError(e);
      return false;
    }
  };
  const add = async (e) => {
    e.preventDefault();
    const body = { name: form.name, status: 'offline' };
    if (form.max_concurrent) body.max_concurrent = Number(form.max_concurrent);
    if (await save(form.id.trim(), body)) setForm({ id: '', name: '', max_concurrent: '' });
  };
  return (
    <>
      <ErrorLine error={error || actionError} />
      <table class="list" aria-label="Agents">
        <thead>
          <tr>
            <th>Agent</th>
            <th>Status</th>
            <th>Open conversations</th>
            <th>Limit</th>
            <th>Pages</th>
          </tr>
        </thead>
        <tbody>
          {(data?.items || []).map((a) => (
            <tr data-agent={a.id}>
              <td>
                {a.name || a.id}
                <br />
                <small>{a.id}</small>
              </td>
              <td>
                <button type="button" onClick={() => save(a.id, { status: a.status === 'online' ? 'offline' : 'online' })} aria-label={`${a.name || a.id} is ${a.status}: set ${a.status === 'online' ? 'offline' : 'online'}`}>
                  {a.status}
                </button>
              </td>
              <td>{a.open_conversations}</td>
              <td>{a.max_concurrent ?? '—'}</td>
              <td>
                <AgentPages agent={a} save={save} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form class="card" onSubmit={add} aria-label="Add an agent">
        <h3>Add an agent</h3>
        <label>
          Agent id (the token's sub)
          <input required value={form.id} onInput={(e) => setForm({ ...form, id: e.currentTarget.value })} />
        </label>
        <label>
          Name
          <input value={form.name} onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} />
        </label>
        <label>
          Most open conversations at once
          <input type="number" min="1" value={form.max_concurrent} onInput={(e) => setForm({ ...form, max_concurrent: e.currentTarget.value })} />
        </label>
        <button type="submit">Add agent</button>
      </form>
    </>
  );
}

// The Pages an agent works: every Page, or the ids listed.
function AgentPages({ agent, save }) {
  const [text, setText] = useState((agent.pages || []).join(', '));
  useEffect(() => setText((agent.pages || []).join(', ')), [agent.pages]);
  const submit = (e) => {
    e.preventDefault();
    const ids = list(text);
    save(agent.id, { pages: ids.length ? ids : null });
  };
  return (
    <form class="inline" onSubmit={submit} aria-label={`Pages of ${agent.name || agent.id}`}>
      <input value={text} placeholder="every Page" onInput={(e) => setText(e.currentTarget.value)} aria-label={`Page ids ${agent.name || agent.id} works (empty: every Page)`} />
      <button type="submit">Set Pages</button>
    </form>
  );
}

const list = (s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

// A comma-separated list field that keeps what is typed (a trailing comma, spaces) while the
// rule holds the parsed list.
function ListInput({ value, onChange, ...rest }) {
  const [text, setText] = useState((value || []).join(', '));
  useEffect(() => {
    if (list(text).join(',') !== (value || []).join(',')) setText((value || []).join(', '));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [value]);
  return (
    <input
      {...rest}
      value={text}
      onInput={(e) => {
        setText(e.currentTarget.value);
        onChange(list(e.currentTarget.value));
      }}
    />
  );
}

function Rules({ api }) {
  const [rules, setRules] = useState(null);
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState(null);
  const load = () =>
    api.get('/routing-rules').then(
      (r) => {
        setRules(r.rules);
        setError(null);
      },
      (e) => setError(e),
    );
  useEffect(() => {
    load();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api]);
  if (!rules) return <ErrorLine error={error} />;
  const change = (i, patch) => setRules(rules.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const matchOf = (r, patch) => ({ match: { ...(r.match || {}), ...patch } });
  const move = (i, d) => {
    const next = rules.slice();
    [next[i], next[i + d]] = [next[i + d], next[i]];
    setRules(next);
  };
  const save = async (e) => {
    e.preventDefault();
    try {
      const r = await api.put('/routing-rules', { rules });
      setRules(r.rules);
      setSaved(r.moved);
      setError(null);
    } catch (err) {
      setError(err);
      setSaved(null);
    }
  };
  return (
    <form onSubmit={save} aria-label="Routing rules">
      <p class="hint">Rules are tried in this order; the first that matches places the conversation. An empty field matches everything.</p>
      <ol class="rules">
        {rules.map((r, i) => (
          <li class="card" data-rule={r.name}>
            <fieldset>
              <legend>
                Rule {i + 1}: {r.name}
              </legend>
              <label>
                Name
                <input value={r.name} onInput={(e) => change(i, { name: e.currentTarget.value })} />
              </label>
              <label>
                Agents (comma-separated ids)
                <ListInput value={r.agents} onChange={(v) => change(i, { agents: v })} />
              </label>
              <label>
                Method
                <select value={r.method} onChange={(e) => change(i, { method: e.currentTarget.value })}>
                  <option value="round_robin">Round robin</option>
                  <option value="load_balanced">Least busy</option>
                  <option value="claim">Agents claim</option>
                  <option value="owner">Owner</option>
                </select>
              </label>
              <label>
                Pages (ids)
                <ListInput value={r.match?.pages} onChange={(v) => change(i, matchOf(r, { pages: v }))} />
              </label>
              <label>
                Channels
                <ListInput value={r.match?.channels} placeholder="messenger, comment, lead, instagram, instagram_comment" onChange={(v) => change(i, matchOf(r, { channels: v }))} />
              </label>
              <label>
                Keywords
                <ListInput value={r.match?.keywords} onChange={(v) => change(i, matchOf(r, { keywords: v }))} />
              </label>
              <label>
                Business hours
                <select value={r.match?.business_hours || 'any'} onChange={(e) => change(i, matchOf(r, { business_hours: e.currentTarget.value }))}>
                  <option value="any">Any time</option>
                  <option value="inside">Inside</option>
                  <option value="outside">Outside</option>
                </select>
              </label>
              <label>
                When an agent is removed
                <select value={r.on_agent_removed || 'unassign'} onChange={(e) => change(i, { on_agent_removed: e.currentTarget.value })}>
                  <option value="reassign">Reassign</option>
                  <option value="unassign">Unassign</option>
                </select>
              </label>
              <div class="row-actions">
                <button type="button" disabled={i === 0} onClick={() => move(i, -1)} aria-label={`Move ${r.name} up`}>
                  Up
                </button>
                <button type="button" disabled={i === rules.length - 1} onClick={() => move(i, 1)} aria-label={`Move ${r.name} down`}>
                  Down
                </button>
                <button type="button" onClick={() => setRules(rules.filter((_, j) => j !== i))} aria-label={`Delete ${r.name}`}>
                  Delete
                </button>
              </div>
            </fieldset>
          </li>
        ))}
      </ol>
      <button type="button" onClick={() => setRules([...rules, { name: `rule ${rules.length + 1}`, agents: [], method: 'round_robin', match: {} }])}>
        Add a rule
      </button>{' '}
      <button type="submit">Save rules</button>{' '}
      <button type="button" onClick={load}>
        Discard changes
      </button>
      <ErrorLine error={error} />
      {saved && (
        <p role="status" class="ok">
          Saved. {saved.reassigned} conversations reassigned, {saved.unassigned} unassigned.
        </p>
      )}
    </form>
  );
}

// A bar chart in SVG: no chart library for five bars.
function Bars({ label, data }) {
  const max = Math.max(1, ...data.map(([, v]) => v));
  const w = 36;
  const h = 120;
  return (
    <svg class="chart" role="img" aria-label={`${label}: ${data.map(([k, v]) => `${k}: ${v}`).join(', ')}`} width={data.length * (w + 8) + 8} height={h + 36}>
      {data.map(([k, v], i) => {
        const bh = Math.round((v / max) * h);
        const x = 8 + i * (w + 8);
        return (
          <g>
            <rect x={x} y={h - bh + 8} width={w} height={bh} class="bar" />
            <text x={x + w / 2} y={h + 24} text-anchor="middle">
              {k}
            </text>
            <text x={x + w / 2} y={h - bh + 4} text-anchor="middle">
              {v}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

function Csat({ api }) {
  const [range, setRange] = useState({ from: '', to: '' });
  const [data, error] = useLoad(() => api.get('/reports/csat' + query(range)), [api, range.from, range.to]);
  return (
    <section aria-label="Satisfaction report">
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          From
          <input type="date" value={range.from} onChange={(e) => setRange({ ...range, from: e.currentTarget.value })} />
        </label>
        <label>
          To
          <input type="date" value={range.to} onChange={(e) => setRange({ ...range, to: e.currentTarget.value })} />
        </label>
      </form>
      <ErrorLine error={error} />
      {data && (
        <>
          <p>
            {data.responses} responses · average <strong>{data.average ?? '—'}</strong> · {fullTime(data.from)} – {fullTime(data.to)} ({data.time_zone})
          </p>
          <Bars label="Scores" data={['1', '2', '3', '4', '5'].map((k) => [k, data.distribution?.[k] ?? 0])} />
          {data.by_day?.length > 0 && <Bars label="Responses by day" data={data.by_day.map((d) => [d.date.slice(5), d.responses])} />}
          <table class="list" aria-label="By agent">
            <thead>
              <tr>
                <th>Agent</th>
                <th>Responses</th>
                <th>Average</th>
              </tr>
            </thead>
            <tbody>
              {(data.by_agent || []).map((a) => (
                <tr>
                  <td>{a.agent_id || '(none)'}</td>
                  <td>{a.responses}</td>
                  <td>{a.average ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

export function Admin({ api, config, section, feed }) {
  const body = {
    pages: <Pages api={api} config={config} feed={feed} />,
    agents: <Agents api={api} />,
    rules: <Rules api={api} />,
    settings: <SettingsForm api={api} />,
    csat: <Csat api={api} />,
  }[section] || <p>Unknown section.</p>;
  return (
    <main class="admin">
      <nav aria-label="Admin">
        {SECTIONS.map(([k, v]) => (
          <a href={`#/admin/${k}`} aria-current={k === section ? 'page' : undefined}>
            {v}
          </a>
        ))}
      </nav>
      <section aria-label={SECTIONS.find(([k]) => k === section)?.[1] || 'Admin'}>{body}</section>
    </main>
  );
}
