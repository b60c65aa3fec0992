// The conversation list: most recent activity first, filtered the way the API filters, paged
// with its cursors, refreshed from the events feed.

import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { query } from './api.js';
import { isUnread, preview } from './logic.js';
import { Avatar, ChannelIcon, contactName, ErrorLine, when, CHANNELS } from './util.jsx';

const PAGE_SIZE = 25;

// Signals the list only when something became read: a conversation reloads on every event that
// concerns it, and the list already reloads on those.
export function markSeen(conv) {
  const key = `pagedesk.seen.${conv?.id}`;
  if (!conv?.last_inbound_at || localStorage.getItem(key) === conv.last_inbound_at) return;
  localStorage.setItem(key, conv.last_inbound_at);
  changed();
}

// This browser changed a conversation (read it, answered, claimed…): the list reloads at once
// instead of waiting for the events feed, which shows changes about five seconds late.
export function changed() {
  dispatchEvent(new Event('pagedesk:changed'));
}
const unread = (conv) => isUnread(conv, localStorage.getItem(`pagedesk.seen.${conv.id}`));

const CONV_EVENTS = /^(conversation|message|window|csat|contact)\./;

export function Inbox({ api, claims, feed, selected }) {
  const [filters, setFilters] = useState({ assignee: '', status: 'open', page_id: '', channel: '', label: '', contact_id: '' });
  const [search, setSearch] = useState('');
  const [hits, setHits] = useState(null);
  const [picked, setPicked] = useState(null);
  const [labels, setLabels] = useState([]);
  const [items, setItems] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(false);
  const [pages, setPages] = useState([]);
  const shown = useRef(PAGE_SIZE);

  useEffect(() => {
    if (claims.role !== 'admin') return;
    api.get('/pages').then((r) => setPages(r.items), () => {});
  }, [api, claims.role]);
  // The label filter's choices, read again whenever the list reloads after a change.
  const loadLabels = () => api.get('/labels').then((r) => setLabels(r.items), () => {});

  // Reloads as many rows as are on screen, so that a live refresh does not shorten the list.
  const load = useCallback(
    async (more) => {
      setLoading(true);
      try {
        let rows = more ? items : [];
        let next = more ? cursor : null;
        const want = more ? rows.length + PAGE_SIZE : Math.max(shown.current, PAGE_SIZE);
        do {
          const page = await api.get('/conversations' + query({ ...filters, limit: PAGE_SIZE, cursor: next }));
          rows = rows.concat(page.items);
          next = page.next_cursor;
        } while (next && rows.length < want);
        shown.current = rows.length;
        if (!more) loadLabels();
        setItems(rows);
        setCursor(next);
        setError(null);
      } catch (e) {
        setError(e);
      }
      setLoading(false);
    },
    [api, filters, items, cursor],
  );

  useEffect(() => {
    shown.current = PAGE_SIZE;
    load(false);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, filters]);

  const latest = useRef(load);
  latest.current = load;
  useEffect(() => {
    let timer = null;
    const off = feed.subscribe((events) => {
      if (!events.some((e) => CONV_EVENTS.test(e.type))) return;
      clearTimeout(timer);
      timer = setTimeout(() => latest.current(false), 200);
    });
    const local = () => {
      clearTimeout(timer);
      timer = setTimeout(() => latest.current(false), 50);
    };
    addEventListener('pagedesk:changed', local);
    return () => {
      off();
      removeEventListener('pagedesk:changed', local);
      clearTimeout(timer);
    };
  }, [feed]);

  const set = (k) => (e) => setFilters({ ...filters, [k]: e.currentTarget.value });
  const pageIds = pages.length ? pages.map((p) => [p.page_id, p.name || p.page_id]) : [...new Set(items.map((c) => c.page_id))].map((id) => [id, id]);
  const pageName = (c) => pages.find((p) => p.page_id === c.page_id)?.name || c.page_name || c.page_id;

  const find = async (e) => {
    e.preventDefault();
    try {
      setHits((await api.get('/contacts' + query({ q: search.trim() }))).items);
      setError(null);
    } catch (err) {
      setError(err);
    }
  };
  // A hit lists that person's conversations, whatever their status.
  const pick = (h) => {
    setPicked(h);
    setHits(null);
    setFilters({ ...filters, contact_id: h.id, status: 'all' });
  };
  const unpick = () => {
    setPicked(null);
    setFilters({ ...filters, contact_id: '', status: 'open' });
  };

  return (
    <section class="inbox" aria-label="Inbox">
      <form class="search" role="search" onSubmit={find}>
        <input type="search" aria-label="Search contacts" placeholder="Name, email, phone or Facebook id" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        <button type="submit" disabled={search.trim().length < 2}>
          Search
        </button>
      </form>
      {hits && (
        <ul class="hits" aria-label="Contacts found">
          {hits.length ? (
            hits.map((h) => (
              <li data-contact={h.id}>
                <button type="button" class="link" onClick={() => pick(h)}>
                  {h.name || h.facebook_id}
                </button>{' '}
                <span class="hint">{[h.email, h.phone].filter(Boolean).join(' · ')}</span>
              </li>
            ))
          ) : (
            <li class="hint">Nobody found.</li>
          )}
        </ul>
      )}
      {picked && (
        <p class="picked">
          Conversations of {picked.name || picked.facebook_id}{' '}
          <button type="button" class="link" onClick={unpick}>
            Show all
          </button>
        </p>
      )}
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Show
          <select value={filters.assignee} onChange={set('assignee')}>
            <option value="">All</option>
            <option value="me">Mine</option>
            <option value="unassigned">Unassigned</option>
          </select>
        </label>
        <label>
          Status
          <select value={filters.status} onChange={set('status')}>
            <option value="open">Open</option>
            <option value="snoozed">Snoozed</option>
            <option value="resolved">Resolved</option>
            <option value="all">Any</option>
          </select>
        </label>
        <label>
          Page
          <select value={filters.page_id} onChange={set('page_id')}>
            <option value="">All Pages</option>
            {pageIds.map(([id, name]) => (
              <option value={id}>{name}</option>
            ))}
          </select>
        </label>
        <label>
          Label
          <select value={filters.label} onChange={set('label')}>
            <option value="">Any label</option>
            {labels.map((l) => (
              <option value={l.name}>
                {l.name} ({l.open_conversations})
              </option>
            ))}
          </select>
        </label>
        <label>
          Channel
          <select value={filters.channel} onChange={set('channel')}>
            <option value="">All channels</option>
            {Object.entries(CHANNELS).map(([k, v]) => (
              <option value={k}>{v}</option>
            ))}
          </select>
        </label>
      </form>
      <ErrorLine error={error} />
      <ul class="conversations" aria-label="Conversations" aria-busy={loading}>
        {items.map((c) => (
          <li key={c.id} class={`row${c.id === selected ? ' selected' : ''}${unread(c) ? ' unread' : ''}`} data-conversation={c.id}>
            <a href={`#/c/${encodeURIComponent(c.id)}`} aria-current={c.id === selected ? 'true' : undefined}>
              <Avatar contact={c.contact} />
              <span class="row-main">
                <span class="row-top">
                  <ChannelIcon channel={c.channel} />
                  <span class="name">{contactName(c.contact)}</span>
                  {unread(c) && (
                    <span class="unread-dot" role="img" aria-label="Unread">
                      ●
                    </span>
                  )}
                  <time dateTime={c.last_message_at}>{when(c.last_message_at)}</time>
                </span>
                <span class="last">{preview(c)}</span>
                <span class="row-meta">
                  <span class="page">{pageName(c)}</span>
                  {c.status === 'resolved' && <span class="badge">Resolved</span>}
                  {c.status === 'snoozed' && (
                    <span class="badge" title={`Until ${c.snoozed_until}`}>
                      Snoozed
                    </span>
                  )}
                  {(c.labels || []).map((l) => (
                    <span class="badge label">{l}</span>
                  ))}
                  {c.ai_agent_active && !c.assignee && <span class="badge">AI agent</span>}
                  <span class="assignee">{c.assignee ? `→ ${c.assignee === claims.sub ? 'you' : c.assignee}` : 'Unassigned'}</span>
                </span>
              </span>
            </a>
          </li>
        ))}
      </ul>
      {!loading && !items.length && !error && <p class="hint">No conversations match.</p>}
      {cursor && (
        <button type="button" onClick={() => load(true)} disabled={loading}>
          Load more
        </button>
      )}
    </section>
  );
}
