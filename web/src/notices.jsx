// Notifications: what the events feed says an agent wants to hear of (their preferences, kept by
// the API per agent), shown in the page, counted in the tab's title, as a browser notification
// once allowed (asked once, on the agent's click), and with a short tone if they chose one.

import { useEffect, useRef, useState } from 'preact/hooks';
import { noticesFor } from './logic.js';
import { ErrorLine } from './util.jsx';

const ASKED_KEY = 'pagedesk.notifications.asked';
const TITLE = document.title || 'pagedesk';

function beep() {
  try {
    const ctx = new AudioContext();
    const osc = ctx.createOscillator();
    osc.frequency.value = 880;
    osc.connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.15);
  } catch {
    // No audio here: the notice still shows.
  }
}

export function Notices({ api, claims, feed }) {
  const [prefs, setPrefs] = useState(null);
  const [notices, setNotices] = useState([]);
  const [error, setError] = useState(null);
  const [permission, setPermission] = useState(() => (typeof Notification === 'undefined' ? 'unsupported' : Notification.permission));
  const mine = useRef(new Set());
  const since = useRef(new Date());
  const me = claims.sub;
  const path = `/agents/${encodeURIComponent(me)}/preferences`;

  useEffect(() => {
    api.get(path).then(setPrefs, setError);
  }, [api, path]);

  // The agent's open and snoozed conversations, for "a new message in one of mine" (a
  // person's message wakes a snoozed one) and "a snoozed one is back".
  const loadMine = () =>
    Promise.all(['open', 'snoozed'].map((s) => api.get(`/conversations?assignee=me&status=${s}&limit=100`))).then(
      (lists) => {
        mine.current = new Set(lists.flatMap((r) => r.items.map((c) => c.id)));
      },
      () => {},
    );
  useEffect(() => {
    loadMine();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api]);

  const latest = useRef({ prefs });
  latest.current = { prefs, permission };
  useEffect(
    () =>
      feed.subscribe((events) => {
        const { prefs: p, permission: perm } = latest.current;
        if (!p) return;
        const fresh = noticesFor(events, { me, mine: mine.current, prefs: p, since: since.current });
        if (events.some((e) => e.type.startsWith('conversation.'))) loadMine();
        if (!fresh.length) return;
        setNotices((ns) => [...fresh, ...ns].slice(0, 20));
        if (perm === 'granted') fresh.forEach((n) => new Notification('pagedesk', { body: n.text, tag: `${n.kind}-${n.conversation_id}` }));
        if (p.sound) beep();
      }),
    [feed, me],
  );

  useEffect(() => {
    document.title = notices.length ? `(${notices.length}) ${TITLE}` : TITLE;
  }, [notices.length]);

  const ask = async () => {
    localStorage.setItem(ASKED_KEY, '1');
    setPermission(await Notification.requestPermission());
  };
  const change = (k) => async (e) => {
    try {
      setPrefs(await api.put(path, { ...prefs, [k]: e.currentTarget.checked }));
      setError(null);
    } catch (err) {
      setError(err);
    }
  };
  const open = (n) => {
    setNotices((ns) => ns.filter((x) => x !== n));
    location.hash = `#/c/${encodeURIComponent(n.conversation_id)}`;
  };
  return (
    <details class="notices-panel">
      <summary aria-label={`Notifications: ${notices.length}`}>🔔 {notices.length || ''}</summary>
      <ul class="notices" aria-label="Notifications">
        {notices.map((n) => (
          <li data-notice={n.kind}>
            <button type="button" class="link" onClick={() => open(n)}>
              {n.text}
            </button>
          </li>
        ))}
        {!notices.length && <li class="hint">Nothing new.</li>}
      </ul>
      {notices.length > 0 && (
        <button type="button" class="link" onClick={() => setNotices([])}>
          Clear
        </button>
      )}
      {prefs && (
        <form class="prefs" aria-label="Notify me of" onSubmit={(e) => e.preventDefault()}>
          {[
            ['assigned', 'Conversations assigned to me'],
            ['messages', 'New messages in mine'],
            ['mentions', 'Notes that mention me'],
            ['sound', 'Play a sound'],
          ].map(([k, label]) => (
            <label class="inline">
              <input type="checkbox" checked={prefs[k]} onChange={change(k)} /> {label}
            </label>
          ))}
        </form>
      )}
      {permission === 'default' && !localStorage.getItem(ASKED_KEY) && (
        <button type="button" onClick={ask}>
          Turn on desktop notifications
        </button>
      )}
      <ErrorLine error={error} />
    </details>
  );
}
