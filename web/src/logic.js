// The inbox's rules without the DOM: what a row says, when it is unread, why a reply is not
// possible. Unit-tested with node's test runner (web/test/).

export function fullTime(iso) {
  return iso ? new Date(iso).toLocaleString() : '';
}

// "3 h 12 min" from now until a time `ms` away (never negative).
export function span(ms) {
  const m = Math.max(0, Math.round(ms / 60000));
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} days ${h % 24} h`;
}

// Unread is per browser: the API keeps no per-agent read state, and the last message of the
// person an agent has looked at is what "unread" means to them. `seen` is the
// `last_inbound_at` stored when the agent last opened the conversation.
export function isUnread(conv, seen) {
  if (!conv.last_inbound_at || conv.last_message?.direction === 'out') return false;
  return !seen || new Date(seen) < new Date(conv.last_inbound_at);
}

// The line under the contact's name.
export function preview(conv) {
  const lm = conv.last_message;
  if (!lm) return conv.subject || '';
  let who = '';
  if (lm.direction === 'out') who = { bot: 'AI agent: ', system: 'Automatic: ', page: 'Page: ' }[lm.author_type] ?? 'You: ';
  return who + (lm.text || (lm.attachment ? `[${lm.attachment}]` : ''));
}

// Why the reply box is closed, in words, before the agent types; null when a reply is allowed.
// The API refuses the same cases (409 window_closed, conversation_not_open; a lead has no
// thread to answer in).
export function replyRefusal(conv, now) {
  if (conv.channel === 'lead') return 'A lead has no Messenger thread to answer in: contact the person with the answers they left.';
  if (conv.status === 'resolved') return 'This conversation is resolved. Reopen it to reply.';
  if ((conv.channel === 'messenger' || conv.channel === 'instagram') && conv.window?.state === 'closed') {
    const w = conv.window;
    if (w.human_agent_until && new Date(w.human_agent_until) <= now) {
      return `Meta's messaging window is closed: the Human Agent period ended ${fullTime(w.human_agent_until)}. The person has to write again before the Page can answer.`;
    }
    const closed = w.closes_at ? ` at ${fullTime(w.closes_at)}` : '';
    return `Meta's 24-hour messaging window closed${closed}, and the Human Agent feature is off for this account. The person has to write again before the Page can answer.`;
  }
  return null;
}

export const TEXT_MAX = 2000;
// Meta's text limit per channel (the API's `Channel::max_text_chars`): Instagram takes 1000.
export function textMax(channel) {
  return channel === 'instagram' || channel === 'instagram_comment' ? 1000 : TEXT_MAX;
}
export const QR_MAX = 13;
export const QR_TITLE_MAX = 20;

// What the API would refuse in a reply being written (422), said before it is sent.
export function replyProblems({ text, quick, hasFile, privateReply, channel }) {
  const problems = [];
  const max = textMax(channel);
  if (text.length > max) problems.push(`The text is ${text.length - max} characters over Meta's ${max}.`);
  if (quick.length > QR_MAX) problems.push(`At most ${QR_MAX} quick replies.`);
  if (quick.some((q) => !q.title.trim() || q.title.length > QR_TITLE_MAX)) problems.push(`Each quick reply needs a title of 1–${QR_TITLE_MAX} characters.`);
  if (quick.length && !text.trim()) problems.push('Quick replies go with a text.');
  if (privateReply && (hasFile || quick.length)) problems.push('A private reply to a comment is text only.');
  return problems;
}

// A saved reply's text with its placeholders filled in (the API's four; see the README): a value
// the inbox does not know becomes empty, `contact.first_name` falls back to the first word of the
// contact's name, and the spaces an empty value leaves are closed up.
export function fillSavedReply(text, { contact, agent, page } = {}) {
  const name = (contact?.name || '').trim();
  const values = {
    'contact.first_name': (contact?.first_name || name.split(/\s+/)[0] || '').trim(),
    'contact.name': name,
    'agent.name': (agent?.name || '').trim(),
    'page.name': (page?.name || '').trim(),
  };
  return text
    .replace(/\{\{\s*([a-z_.]+)\s*\}\}/g, (_, k) => values[k] ?? '')
    .replace(/[ \t]{2,}/g, ' ')
    .replace(/ ([,.!?;:])/g, '$1')
    .trim();
}

// The saved replies a reply box starting with `/` offers: shortcut first, then text, case
// ignored; null when the box does not start with `/`.
export function savedReplyChoices(replies, typed) {
  if (!typed.startsWith('/')) return null;
  const q = typed.slice(1).trim().toLowerCase();
  const by = (r) => (r.shortcut.startsWith(q) ? 0 : r.text.toLowerCase().includes(q) ? 1 : 2);
  return replies.filter((r) => by(r) < 2).sort((a, b) => by(a) - by(b) || a.shortcut.localeCompare(b.shortcut));
}

// What the events feed says that an agent wants to hear of (their preferences): a conversation
// assigned to them, a new message of the person in one of their conversations (`mine`, a Set of
// the ids of their open and snoozed ones), one of theirs back from a snooze at its time (with
// `assigned`), a note naming them. Events from before `since` (the feed starts a minute back)
// and the agent's own doings are left out.
export function noticesFor(events, { me, mine, prefs, since }) {
  const out = [];
  for (const e of events) {
    if (since && new Date(e.created_at) < since) continue;
    const d = e.data || {};
    if (e.type === 'conversation.assigned' && prefs.assigned && d.assignee === me && d.previous !== me && d.actor !== me) {
      out.push({ kind: 'assigned', conversation_id: e.conversation_id, text: 'A conversation was assigned to you.' });
    } else if (e.type === 'message.created' && prefs.messages && d.direction === 'in' && mine.has(e.conversation_id)) {
      out.push({ kind: 'message', conversation_id: e.conversation_id, text: 'A new message in one of your conversations.' });
    } else if (e.type === 'conversation.unsnoozed' && prefs.assigned && d.by === 'time' && mine.has(e.conversation_id)) {
      out.push({ kind: 'unsnoozed', conversation_id: e.conversation_id, text: 'A snoozed conversation of yours is back.' });
    } else if (e.type === 'note.created' && prefs.mentions && (d.mentions || []).includes(me) && d.note?.author?.id !== me) {
      out.push({ kind: 'mention', conversation_id: e.conversation_id, text: `${d.note?.author?.id || 'Someone'} mentioned you in a note.` });
    }
  }
  return out;
}

// The times the inbox offers for a snooze, in the agent's own time zone: an hour from now,
// 9:00 tomorrow, 9:00 next Monday (a week on when today is Monday). `until` is what the API takes.
export function snoozeChoices(now) {
  const at9 = (days) => {
    const d = new Date(now);
    d.setDate(d.getDate() + days);
    d.setHours(9, 0, 0, 0);
    return d;
  };
  const toMonday = ((8 - now.getDay()) % 7) || 7;
  return [
    { label: 'For an hour', until: new Date(now.getTime() + 3600000) },
    { label: 'Until tomorrow 9:00', until: at9(1) },
    { label: 'Until Monday 9:00', until: at9(toMonday) },
  ].map((c) => ({ label: c.label, until: c.until.toISOString() }));
}

// A `datetime-local` input's value (the agent's local time) as the API's time, or null when it
// is empty or not in the future.
export function snoozeUntil(local, now) {
  if (!local) return null;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) || d <= now ? null : d.toISOString();
}
