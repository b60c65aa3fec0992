// One conversation: its header (who, where, window, CSAT), the actions an agent takes on it,
// the thread with every kind of message pagedesk stores, and the reply box.

import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.js';
import { changed, markSeen } from './inbox.jsx';
import { Avatar, ChannelIcon, CHANNELS, contactName, ErrorLine, when } from './util.jsx';
import { fillSavedReply, fullTime, QR_MAX, QR_TITLE_MAX, replyProblems, replyRefusal, savedReplyChoices, snoozeChoices, snoozeUntil, span, textMax } from './logic.js';

// Set the conversation aside until a time (or until the person writes), or wake it now.
function Snooze({ conv, now, act }) {
  const [picking, setPicking] = useState(false);
  const [local, setLocal] = useState('');
  if (conv.status === 'snoozed') {
    return (
      <button type="button" onClick={() => act('snooze', undefined, 'DELETE')}>
        Wake now
      </button>
    );
  }
  const until = snoozeUntil(local, now);
  return (
    <span class="snooze">
      <label>
        Snooze
        <select
          value=""
          onChange={(e) => {
            const v = e.currentTarget.value;
            if (v === 'pick') setPicking(true);
            else if (v) act('snooze', { until: v });
          }}
        >
          <option value="">…</option>
          {snoozeChoices(now).map((c) => (
            <option value={c.until}>{c.label}</option>
          ))}
          <option value="pick">Pick a time…</option>
        </select>
      </label>
      {picking && (
        <>
          <input type="datetime-local" aria-label="Snooze until" value={local} onInput={(e) => setLocal(e.currentTarget.value)} />
          <button type="button" disabled={!until} onClick={() => { setPicking(false); act('snooze', { until }); }}>
            Snooze
          </button>
        </>
      )}
    </span>
  );
}

function WindowState({ conv, now }) {
  // Messenger and Instagram Direct share Meta's 24-hour window.
  if (conv.channel !== 'messenger' && conv.channel !== 'instagram') return null;
  const w = conv.window || {};
  if (w.state === 'open') {
    return (
      <p class="window window-open">
        Messaging window open · closes in {span(new Date(w.closes_at) - now)} ({when(w.closes_at)})
      </p>
    );
  }
  if (w.state === 'human_agent') {
    return (
      <p class="window window-human">
        Human Agent period · replies go out tagged HUMAN_AGENT for {span(new Date(w.human_agent_until) - now)} more (until{' '}
        {fullTime(w.human_agent_until)}); for human support only
      </p>
    );
  }
  return <p class="window window-closed">Messaging window closed</p>;
}

const STATUS_WORDS = { queued: 'Queued', sent: 'Sent', delivered: 'Delivered', read: 'Read', failed: 'Failed', received: '' };
const STATUS_MARKS = { queued: '◷', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '!' };

function Attachment({ a }) {
  const url = a.url;
  // Instagram media is never copied (Meta's rules): its URL expires, then a placeholder shows.
  const [expired, setExpired] = useState(false);
  if (expired) return <span class="att-file att-expired">🖼 {a.type} · Meta's link has expired (Instagram media is not kept)</span>;
  if (a.type === 'image' && url) {
    return (
      <a href={url} target="_blank" rel="noreferrer">
        <img class="att-image" src={url} alt={a.title || 'Image'} loading="lazy" onError={() => a.stored === false && setExpired(true)} />
      </a>
    );
  }
  if (a.type === 'sticker' && url) return <img class="att-sticker" src={url} alt="Sticker" loading="lazy" />;
  if (a.type === 'video' && url) return <video class="att-video" src={url} controls preload="metadata" />;
  if (a.type === 'audio' && url) return <audio src={url} controls preload="metadata" />;
  if (a.type === 'location' && a.coordinates) {
    const { lat, long } = a.coordinates;
    return (
      <a class="att-location" href={`https://www.openstreetmap.org/?mlat=${lat}&mlon=${long}#map=16/${lat}/${long}`} target="_blank" rel="noreferrer">
        📍 {a.title || 'Location'} ({lat}, {long})
      </a>
    );
  }
  if (a.type === 'template' || a.type === 'fallback') {
    return (
      <div class="att-template">
        <strong>{a.title || (a.type === 'template' ? 'Template' : 'Shared content')}</strong>
        {a.payload && <pre>{typeof a.payload === 'string' ? a.payload : JSON.stringify(a.payload, null, 1)}</pre>}
        {url && (
          <a href={url} target="_blank" rel="noreferrer">
            Open
          </a>
        )}
      </div>
    );
  }
  return (
    <span class="att-file">
      {url ? (
        <a href={url} target="_blank" rel="noreferrer">
          📎 {a.title || a.type}
        </a>
      ) : (
        <>📎 {a.title || a.type}</>
      )}
      {a.size ? ` · ${Math.ceil(a.size / 1024)} KB` : ''}
      {a.store_error && <em class="store-error"> · not copied: {a.store_error}</em>}
    </span>
  );
}

function Message({ m, conv, onReplyTo, onReact }) {
  const out = m.direction === 'out';
  const kindLabel = {
    post: 'Post',
    comment: 'Comment',
    lead: 'Lead form',
    greeting: 'Greeting (automatic)',
    away: 'Away message (automatic)',
    csat: 'Satisfaction survey (automatic)',
    note: 'Note',
  }[m.kind];
  const author = out ? { agent: m.author.id || 'Agent', bot: 'AI agent', system: 'pagedesk', page: 'The Page' }[m.author.type] || 'Page' : contactName(conv.contact);
  return (
    <li class={`msg ${out ? 'out' : 'in'}${m.kind ? ` kind-${m.kind}` : ''}${m.status === 'failed' ? ' failed' : ''}`} data-message={m.id}>
      <div class="msg-head">
        <span class="author">{author}</span>
        {kindLabel && <span class="badge">{kindLabel}</span>}
        {m.private && <span class="badge">Private reply</span>}
        {m.context && <span class="badge">Earlier conversation</span>}
        {m.imported && <span class="badge">Imported</span>}
        {m.standby && <span class="badge">Another app held the thread</span>}
        <time dateTime={m.created_at} title={fullTime(m.created_at)}>
          {when(m.created_at)}
        </time>
      </div>
      {m.erased ? (
        <p class="erased">Erased at the person's request.</p>
      ) : (
        <>
          {m.text && <p class="text">{m.text}</p>}
          {m.postback && <p class="postback">Tapped button “{m.postback.title || m.postback.payload}”</p>}
          {m.quick_reply_payload && <p class="quick">Quick reply · {m.quick_reply_payload}</p>}
          {m.referral && <p class="referral">Came from {m.referral.source || 'a link'}{m.referral.ref ? ` (${m.referral.ref})` : ''}</p>}
          {m.lead && (
            <table class="lead-answers">
              <caption>Answers{m.lead.form_id ? ` · form ${m.lead.form_id}` : ''}</caption>
              <tbody>
                {Object.entries(m.lead.fields || {}).map(([k, v]) => (
                  <tr>
                    <th scope="row">{k.replace(/_/g, ' ')}</th>
                    <td>{v}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {m.lead && m.lead.status && m.lead.status !== 'retrieved' && <p class="hint">Lead details: {m.lead.reason || m.lead.status}</p>}
          {m.story && (
            <p class="story-reply">
              Replied to{' '}
              {m.story.url ? (
                <a href={m.story.url} target="_blank" rel="noreferrer">
                  their story
                </a>
              ) : (
                'their story'
              )}
            </p>
          )}
          {m.attachments.length > 0 && (
            <div class="attachments">
              {m.attachments.map((a) => (
                <Attachment a={a} />
              ))}
            </div>
          )}
          {m.reaction && <p class="reaction">Reacted {m.reaction.emoji || m.reaction.reaction}</p>}
          {m.page_reaction && <p class="reaction page-reaction">The Page reacted {m.page_reaction}</p>}
        </>
      )}
      <div class="msg-foot">
        {m.edited_at && <span>edited</span>}
        {m.removed_at && <span>{conv.channel === 'instagram' ? 'unsent on Instagram' : 'removed on Facebook'}</span>}
        {out && m.status !== 'received' && m.kind !== 'post' && (
          <span class={`status status-${m.status}`} aria-label={STATUS_WORDS[m.status]} title={STATUS_WORDS[m.status]}>
            {STATUS_MARKS[m.status]} {STATUS_WORDS[m.status]}
          </span>
        )}
        {(conv.channel === 'messenger' || conv.channel === 'instagram') && !out && m.external_id && !m.erased && conv.window?.state === 'open' && (
          <button type="button" class="link" onClick={() => onReact(m, m.page_reaction ? null : '👍')} aria-label={m.page_reaction ? 'Take back the reaction' : 'React with a thumbs-up'}>
            {m.page_reaction ? 'Take back' : '👍'}
          </button>
        )}
        {m.kind === 'comment' && !out && conv.status === 'open' && !m.erased && (
          <>
            <button type="button" class="link" onClick={() => onReplyTo(m, false)}>
              Reply publicly
            </button>
            <button type="button" class="link" onClick={() => onReplyTo(m, true)}>
              Reply privately
            </button>
          </>
        )}
      </div>
      {m.status === 'failed' && m.error && (
        <p class="error" role="note">
          Not sent: {m.error.message || m.error.reason}
        </p>
      )}
    </li>
  );
}

function kindOf(mime) {
  if (mime.startsWith('image/')) return 'image';
  if (mime.startsWith('video/')) return 'video';
  if (mime.startsWith('audio/')) return 'audio';
  return 'file';
}

function ReplyBox({ api, conv, now, target, setTarget, onSent, fill }) {
  const [text, setText] = useState('');
  const [saved, setSaved] = useState([]);
  useEffect(() => {
    api.get('/saved-replies').then((r) => setSaved(r.items), () => {});
  }, [api]);
  const choices = savedReplyChoices(saved, text);
  // "Typing…" for the person while the agent writes: the API sends it at most every 5 s.
  const lastTyping = useRef(0);
  const typed = (value) => {
    setText(value);
    // Not for a saved reply being looked up (`/…`).
    if ((conv.channel !== 'messenger' && conv.channel !== 'instagram') || !value.trim() || value.startsWith('/') || Date.now() - lastTyping.current < 5000) return;
    lastTyping.current = Date.now();
    api.post(`/conversations/${encodeURIComponent(conv.id)}/typing`).catch(() => {});
  };
  const [quick, setQuick] = useState([]);
  const [file, setFile] = useState(null);
  const [error, setError] = useState(null);
  const [warning, setWarning] = useState(null);
  const [busy, setBusy] = useState(false);
  const refusal = replyRefusal(conv, now);
  const comment = conv.channel === 'comment' || conv.channel === 'instagram_comment';
  const max = textMax(conv.channel);
  const problems = replyProblems({ text, quick, hasFile: !!file, privateReply: !!target?.private, channel: conv.channel });

  const send = async (e) => {
    e.preventDefault();
    if (refusal || problems.length || (!text.trim() && !file)) return;
    setBusy(true);
    setError(null);
    try {
      const body = { client_id: crypto.randomUUID() };
      if (text.trim()) body.text = text;
      if (quick.length) body.quick_replies = quick.map((q) => ({ title: q.title, payload: q.payload || q.title }));
      if (file) {
        const type = file.type || 'application/octet-stream';
        const up = await api.post('/uploads', { filename: file.name, content_type: type, size: file.size });
        const put = await fetch(up.put_url, { method: 'PUT', headers: { 'content-type': type }, body: file }).catch(() => null);
        if (!put || !put.ok) throw new ApiError(put?.status ?? 0, null, 'The file could not be uploaded to storage.');
        body.attachments = [{ type: kindOf(type), upload_id: up.upload_id }];
      }
      if (comment && target) {
        body.reply_to = target.id;
        if (target.private) body.private = true;
      }
      const sent = await api.post(`/conversations/${encodeURIComponent(conv.id)}/messages`, body);
      setWarning(sent.warnings?.length ? sent.warnings.map((w) => w.message).join(' ') : null);
      setText('');
      setQuick([]);
      setFile(null);
      setTarget(null);
      onSent(sent);
    } catch (err) {
      setError(err);
    }
    setBusy(false);
  };

  const onKey = (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) send(e);
  };

  return (
    <form class="reply" onSubmit={send} aria-label="Reply to this conversation">
      {refusal && (
        <p class="refusal" id="reply-refusal" role="status">
          {refusal}
        </p>
      )}
      {comment && !refusal && (
        <p class="reply-target">
          {target ? (
            <>
              {target.private ? 'Private reply in Messenger to' : 'Public reply under'} “{(target.text || '').slice(0, 60)}”{' '}
              <button type="button" class="link" onClick={() => setTarget(null)}>
                Reply to the latest comment instead
              </button>
            </>
          ) : (
            'Public reply under the latest comment.'
          )}
        </p>
      )}
      <label for="reply-text" class="visually-hidden">
        Reply
      </label>
      <textarea
        id="reply-text"
        aria-label="Reply"
        aria-describedby={refusal ? 'reply-refusal' : 'reply-help'}
        rows="3"
        value={text}
        disabled={!!refusal || busy}
        placeholder={refusal ? '' : 'Write a reply (Ctrl+Enter sends)'}
        onInput={(e) => typed(e.currentTarget.value)}
        onKeyDown={onKey}
      />
      {choices && (
        <ul class="saved-replies" aria-label="Saved replies">
          {choices.length ? (
            choices.map((r) => (
              <li>
                <button type="button" class="link" onClick={() => setText(fillSavedReply(r.text, fill))}>
                  /{r.shortcut}
                </button>{' '}
                <span class="hint">{r.text.slice(0, 80)}</span>
              </li>
            ))
          ) : (
            <li class="hint">No saved reply matches.</li>
          )}
        </ul>
      )}
      {!refusal && (
        <div class="reply-tools">
          <span id="reply-help" class={text.length > max ? 'error' : 'hint'}>
            {text.length}/{max}
          </span>
          {!target?.private && (
            <>
              <label class="file">
                Attach a file
                <input type="file" onChange={(e) => setFile(e.currentTarget.files[0] || null)} />
              </label>
              {file && (
                <span>
                  {file.name}{' '}
                  <button type="button" class="link" onClick={() => setFile(null)}>
                    Remove
                  </button>
                </span>
              )}
            </>
          )}
          {conv.channel === 'messenger' && quick.length < QR_MAX && (
            <button type="button" class="link" onClick={() => setQuick([...quick, { title: '', payload: '' }])}>
              Add a quick reply
            </button>
          )}
        </div>
      )}
      {quick.map((q, i) => (
        <div class="quick-row">
          <label>
            Quick reply {i + 1} title
            <input maxLength={QR_TITLE_MAX} value={q.title} onInput={(e) => setQuick(quick.map((x, j) => (j === i ? { ...x, title: e.currentTarget.value } : x)))} />
          </label>
          <label>
            Payload
            <input value={q.payload} placeholder="(the title)" onInput={(e) => setQuick(quick.map((x, j) => (j === i ? { ...x, payload: e.currentTarget.value } : x)))} />
          </label>
          <button type="button" class="link" onClick={() => setQuick(quick.filter((_, j) => j !== i))} aria-label={`Remove quick reply ${i + 1}`}>
            Remove
          </button>
        </div>
      ))}
      {problems.map((p) => (
        <p class="error">{p}</p>
      ))}
      <ErrorLine error={error} />
      {warning && <p class="warning">{warning}</p>}
      <button type="submit" disabled={!!refusal || busy || problems.length > 0 || (!text.trim() && !file)}>
        Send
      </button>
    </form>
  );
}

// A private note: the team's, never sent to the person; `@agent-id` notifies that agent.
function NoteBox({ api, conv, onAdded }) {
  const [text, setText] = useState('');
  const [error, setError] = useState(null);
  const add = async (e) => {
    e.preventDefault();
    if (!text.trim()) return;
    try {
      const note = await api.post(`/conversations/${encodeURIComponent(conv.id)}/notes`, { text });
      setText('');
      setError(null);
      onAdded(note);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="note" onSubmit={add} aria-label="Add a private note">
      <textarea aria-label="Private note" rows="2" value={text} placeholder="A note for the team (@agent-id to notify someone); the person never sees it" onInput={(e) => setText(e.currentTarget.value)} />
      <ErrorLine error={error} />
      <button type="submit" disabled={!text.trim() || text.length > 5000}>
        Add note
      </button>
    </form>
  );
}

// The conversation's labels: shown as chips, changed as one comma-separated list.
function Labels({ api, conv, onChanged }) {
  const [text, setText] = useState(conv.labels.join(', '));
  const [error, setError] = useState(null);
  const save = async (e) => {
    e.preventDefault();
    const labels = text
      .split(',')
      .map((l) => l.trim().toLowerCase())
      .filter(Boolean);
    try {
      onChanged(await api.put(`/conversations/${encodeURIComponent(conv.id)}/labels`, { labels }));
      setError(null);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="labels" onSubmit={save} aria-label="Labels">
      {conv.labels.map((l) => (
        <span class="badge label" data-label={l}>
          {l}
        </span>
      ))}
      <input aria-label="Labels, comma-separated" value={text} placeholder="vip, refund" onInput={(e) => setText(e.currentTarget.value)} />
      <button type="submit">Save labels</button>
      <ErrorLine error={error} />
    </form>
  );
}

export function Conversation({ api, claims, feed, id, pageNames }) {
  const [conv, setConv] = useState(null);
  const [messages, setMessages] = useState([]);
  const [agents, setAgents] = useState([]);
  const [error, setError] = useState(null);
  const [actionError, setActionError] = useState(null);
  const [now, setNow] = useState(() => new Date());
  const [target, setTarget] = useState(null);
  const [me, setMe] = useState(null);
  const bottom = useRef(null);
  const path = `/conversations/${encodeURIComponent(id)}`;

  const load = async () => {
    try {
      const c = await api.get(path);
      let all = [];
      let cursor = null;
      do {
        const page = await api.get(`${path}/messages?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        all = all.concat(page.items);
        cursor = page.next_cursor;
      } while (cursor);
      setConv(c);
      setMessages(all);
      markSeen(c);
      setError(null);
    } catch (e) {
      setError(e);
    }
  };

  useEffect(() => {
    load();
    if (claims.role === 'admin') api.get('/agents').then((r) => setAgents(r.items), () => {});
    if (claims.sub) api.get(`/agents/${encodeURIComponent(claims.sub)}`).then(setMe, () => {});
    const tick = setInterval(() => setNow(new Date()), 15000);
    return () => clearInterval(tick);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id]);

  const latest = useRef(load);
  latest.current = load;
  useEffect(
    () =>
      feed.subscribe((events) => {
        if (events.some((e) => e.conversation_id === id)) latest.current();
      }),
    [feed, id],
  );

  useEffect(() => {
    bottom.current?.scrollIntoView({ block: 'end' });
  }, [messages.length]);

  const act = async (what, body, method = 'POST') => {
    setActionError(null);
    try {
      const r = method === 'DELETE' ? await api.del(`${path}/${what}`) : await api.post(`${path}/${what}`, body);
      if (r && r.id === id) setConv(r);
      changed();
      await load();
    } catch (e) {
      setActionError(e);
    }
  };

  if (error && !conv) {
    return (
      <section class="conversation" aria-label="Conversation">
        <ErrorLine error={error} />
      </section>
    );
  }
  if (!conv) return <section class="conversation" aria-label="Conversation" aria-busy="true" />;
  const open = conv.status === 'open';
  // Open or snoozed: the team still holds it (claim, assign, resolve work on both).
  const active = conv.status !== 'resolved';
  const statusWords = conv.status === 'snoozed' ? `Snoozed until ${fullTime(conv.snoozed_until)}` : open ? 'Open' : 'Resolved';
  const mine = conv.assignee === claims.sub;
  return (
    <section class="conversation" aria-label="Conversation">
      <header class="conv-head">
        <Avatar contact={conv.contact} />
        <div>
          <h2>
            <ChannelIcon channel={conv.channel} /> {contactName(conv.contact)}
          </h2>
          <p class="meta">
            {CHANNELS[conv.channel]} · Page {conv.page_id}
            {conv.subject ? ` · ${conv.subject}` : ''} · <span class="status">{statusWords}</span> ·{' '}
            <span class="assignee">{conv.assignee ? `Assigned to ${mine ? 'you' : conv.assignee}` : conv.ai_agent_active ? 'With the AI agent' : 'Unassigned'}</span>
            {conv.routing_rule ? ` (rule “${conv.routing_rule}”)` : ''}
          </p>
          <WindowState conv={conv} now={now} />
          <Labels key={conv.labels.join(',')} api={api} conv={conv} onChanged={(c) => { setConv(c); changed(); }} />
          {conv.csat && (
            <p class="csat">
              Satisfaction: <strong>{conv.csat.score}/5</strong>
              {conv.csat.agent_id ? ` for ${conv.csat.agent_id}` : ''}
            </p>
          )}
        </div>
        <div class="actions">
          {active && !mine && claims.role !== 'bot' && (
            <button type="button" onClick={() => act('claim')}>
              Claim
            </button>
          )}
          {active && claims.role === 'admin' && (
            <label>
              Assign to
              <select value={conv.assignee || ''} onChange={(e) => act('assign', { agent_id: e.currentTarget.value || null })}>
                <option value="">Nobody</option>
                {[...new Set([...agents.map((a) => a.id), claims.sub, ...(conv.assignee ? [conv.assignee] : [])])].map((a) => (
                  <option value={a}>{agents.find((x) => x.id === a)?.name || a}</option>
                ))}
              </select>
            </label>
          )}
          {open && claims.role === 'bot' && conv.ai_agent_active && (
            <button type="button" onClick={() => act('handoff', {})}>
              Hand off
            </button>
          )}
          {active && claims.role !== 'bot' && <Snooze conv={conv} now={now} act={act} />}
          {active ? (
            <button type="button" onClick={() => act('resolve')}>
              Resolve
            </button>
          ) : (
            <button type="button" onClick={() => act('reopen')}>
              Reopen
            </button>
          )}
        </div>
      </header>
      <ErrorLine error={actionError} />
      <ErrorLine error={conv && error} />
      <ol class="thread" aria-label="Messages">
        {messages.map((m) => (
          <Message
            key={m.id}
            m={m}
            conv={conv}
            onReplyTo={(msg, priv) => setTarget({ id: msg.comment_id || msg.external_id, text: msg.text, private: priv })}
            onReact={async (msg, emoji) => {
              setActionError(null);
              try {
                const at = `${path}/messages/${encodeURIComponent(msg.id)}/reaction`;
                const shown = emoji ? await api.put(at, { emoji }) : await api.del(at);
                setMessages((ms) => ms.map((x) => (x.id === shown.id ? { ...x, page_reaction: shown.page_reaction } : x)));
              } catch (e) {
                setActionError(e);
              }
            }}
          />
        ))}
        <li ref={bottom} class="thread-end" aria-hidden="true" />
      </ol>
      <ReplyBox
        api={api}
        conv={conv}
        now={now}
        target={target}
        setTarget={setTarget}
        fill={{ contact: conv.contact, agent: { name: me?.name || claims.sub }, page: { name: conv.page_name || pageNames?.[conv.page_id] } }}
        onSent={(m) => {
          setMessages((ms) => (ms.some((x) => x.id === m.id) ? ms : [...ms, m]));
          changed();
        }}
      />
      <NoteBox api={api} conv={conv} onAdded={(n) => setMessages((ms) => (ms.some((x) => x.id === n.id) ? ms : [...ms, n]))} />
    </section>
  );
}
