// Settings, the account's or one Page's. Every field of the API is here. For a Page, each field
// says whether it is the Page's own or the account's, a saved change becomes the Page's own,
// and "Use the account's" gives a field back to the account.

import { useEffect, useState } from 'preact/hooks';
import { ErrorLine } from './util.jsx';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const DEPTHS = [1, 5, 10, 20, 50];

const words = (s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
const spansText = (spans) => (spans || []).map(([a, b]) => `${a}-${b}`).join(', ');
const spansOf = (text) => words(text).map((s) => s.split('-').map((x) => x.trim()));

// The form's state from settings as the API shows them.
function formOf(s) {
  return {
    time_zone: s.time_zone || 'UTC',
    always_open: !s.business_hours,
    hours: Object.fromEntries(DAYS.map((d) => [d, spansText(s.business_hours?.[d])])),
    greeting: s.greeting || '',
    away_message: s.away_message || '',
    csat_enabled: !!s.csat_enabled,
    human_agent_enabled: !!s.human_agent_enabled,
    history_depth: String(s.history_depth ?? 10),
    window_warnings: (s.window_warnings_minutes || []).join(', '),
    ai_agent_url: s.ai_agent?.url || '',
    fallback_agents: (s.fallback?.agents || []).join(', '),
    fallback_method: s.fallback?.method || 'round_robin',
    send_read_receipts: s.send_read_receipts !== false,
    auto_resolve_hours: s.auto_resolve_hours == null ? '' : String(s.auto_resolve_hours),
  };
}

// The API's fields from the form's state.
function bodyOf(f) {
  const agents = words(f.fallback_agents);
  return {
    time_zone: f.time_zone,
    business_hours: f.always_open ? null : Object.fromEntries(DAYS.map((d) => [d, spansOf(f.hours[d])])),
    greeting: f.greeting,
    away_message: f.away_message,
    csat_enabled: f.csat_enabled,
    human_agent_enabled: f.human_agent_enabled,
    history_depth: Number(f.history_depth),
    window_warnings_minutes: words(f.window_warnings).map(Number),
    ai_agent: f.ai_agent_url.trim() ? { url: f.ai_agent_url.trim() } : null,
    fallback: agents.length ? { agents, method: f.fallback_method } : null,
    send_read_receipts: f.send_read_receipts,
    auto_resolve_hours: f.auto_resolve_hours.trim() ? Number(f.auto_resolve_hours) : null,
  };
}

export function SettingsForm({ api, pageId }) {
  const path = pageId ? `/pages/${pageId}/settings` : '/settings';
  const [data, setData] = useState(null);
  const [form, setForm] = useState(null);
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState(null);
  const show = (d) => {
    setData(d);
    setForm(formOf(pageId ? d.effective : d));
  };
  useEffect(() => {
    api.get(path).then(show, setError);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, path]);
  if (!form) return <ErrorLine error={error} />;
  const own = pageId ? Object.keys(data.overrides || {}) : [];
  const set = (k) => (e) => setForm({ ...form, [k]: e.currentTarget.type === 'checkbox' ? e.currentTarget.checked : e.currentTarget.value });
  const send = async (body, what) => {
    try {
      const d = await api.put(path, body);
      show(d);
      setError(null);
      // A signing key made for this save is shown once.
      const secret = (pageId ? d.overrides?.ai_agent : d.ai_agent)?.secret;
      setSaved(secret ? `${what} The AI agent's signing key (shown once): ${secret}` : what);
    } catch (err) {
      setError(err);
      setSaved(null);
    }
  };
  const save = (e) => {
    e.preventDefault();
    const body = bodyOf(form);
    if (!pageId) return send(body, 'Saved.');
    // For a Page, what changed from what applies becomes the Page's own.
    const before = bodyOf(formOf(data.effective));
    const changed = Object.fromEntries(Object.entries(body).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(before[k])));
    return send(changed, 'Saved.');
  };
  // A field's frame: for a Page, whose value it is, and the way back to the account's. (A
  // function, not a component: a component made in render would remount its inputs on each
  // keystroke.)
  const field = (name, label, children) => (
    <div class="field" data-field={name}>
      {children}
      {pageId && (
        <p class="origin">
          {own.includes(name) ? (
            <>
              <span class="badge">this Page's</span>{' '}
              <button type="button" onClick={() => send({ inherit: [name] }, 'Saved.')} aria-label={`Follow the account for ${label}`}>
                Use the account's
              </button>
            </>
          ) : (
            <span class="hint">the account's</span>
          )}
        </p>
      )}
    </div>
  );
  return (
    <form class="card settings" onSubmit={save} aria-label={pageId ? `Settings of Page ${pageId}` : 'Settings'}>
      {field('time_zone', 'time zone', (
        <label>
          Time zone (IANA, e.g. Europe/Berlin)
          <input value={form.time_zone} onInput={set('time_zone')} />
        </label>
      ))}
      {field('business_hours', 'business hours', (
        <fieldset>
          <legend>Business hours</legend>
          <label class="inline">
            <input type="checkbox" checked={form.always_open} onChange={set('always_open')} /> Always open
          </label>
          {!form.always_open &&
            DAYS.map((d) => (
              <label>
                {d} (e.g. 09:00-17:00; empty = closed)
                <input value={form.hours[d]} onInput={(e) => setForm({ ...form, hours: { ...form.hours, [d]: e.currentTarget.value } })} />
              </label>
            ))}
        </fieldset>
      ))}
      {field('greeting', 'greeting', (
        <label>
          Greeting (first message of a new conversation; empty = none)
          <textarea rows="2" value={form.greeting} onInput={set('greeting')} />
        </label>
      ))}
      {field('away_message', 'away message', (
        <label>
          Away message (outside business hours; empty = none)
          <textarea rows="2" value={form.away_message} onInput={set('away_message')} />
        </label>
      ))}
      {field('csat_enabled', 'satisfaction survey', (
        <label class="inline">
          <input type="checkbox" checked={form.csat_enabled} onChange={set('csat_enabled')} /> Ask for a satisfaction score when a conversation is resolved
        </label>
      ))}
      {field('human_agent_enabled', 'Human Agent', (
        <label class="inline">
          <input type="checkbox" checked={form.human_agent_enabled} onChange={set('human_agent_enabled')} /> Human Agent: agents may answer up to 7 days after the person's last message
          (needs Meta's Human Agent feature)
        </label>
      ))}
      {field('send_read_receipts', 'read receipts', (
        <label class="inline">
          <input type="checkbox" checked={form.send_read_receipts} onChange={set('send_read_receipts')} /> Tell the person their messages were seen when an agent opens the
          conversation (Messenger)
        </label>
      ))}
      {field('auto_resolve_hours', 'auto-resolve', (
        <label>
          Resolve a conversation this many hours after the team's last message if the person does not answer (1–720; empty = never; no survey)
          <input inputMode="numeric" value={form.auto_resolve_hours} onInput={set('auto_resolve_hours')} />
        </label>
      ))}
      {field('history_depth', 'history depth', (
        <label>
          Messages carried into a person's new conversation
          <select value={form.history_depth} onChange={set('history_depth')}>
            {DEPTHS.map((d) => (
              <option value={String(d)}>{d}</option>
            ))}
          </select>
        </label>
      ))}
      {field('window_warnings_minutes', 'window warnings', (
        <label>
          Warn this many minutes before the 24-hour window closes (up to 5, 1–60, comma-separated)
          <input value={form.window_warnings} onInput={set('window_warnings')} />
        </label>
      ))}
      {field('ai_agent', 'AI agent', (
        <label>
          AI agent URL (signed deliveries of new conversations and messages; empty = none)
          <input value={form.ai_agent_url} onInput={set('ai_agent_url')} />
        </label>
      ))}
      {field('fallback', 'fallback assignees', (
        <fieldset>
          <legend>When no rule matches and no AI agent takes it</legend>
          <label>
            Give it to these agents (ids, comma-separated; empty = leave it unassigned)
            <input value={form.fallback_agents} onInput={set('fallback_agents')} />
          </label>
          <label>
            By
            <select value={form.fallback_method} onChange={set('fallback_method')}>
              <option value="round_robin">round robin</option>
              <option value="load_balanced">fewest open conversations</option>
            </select>
          </label>
        </fieldset>
      ))}
      <ErrorLine error={error} />
      {saved && (
        <p role="status" class="ok">
          {saved}
        </p>
      )}
      <button type="submit">Save settings</button>
    </form>
  );
}
