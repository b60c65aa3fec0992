import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUnread, preview, replyProblems, replyRefusal, snoozeChoices, snoozeUntil, span } from '../src/logic.js';
import { claimsOf, errorWords, query } from '../src/api.js';

const open = { channel: 'messenger', status: 'open', window: { state: 'open', closes_at: '2026-01-02T00:00:00Z', human_agent_until: null } };

test('a reply is allowed in an open window and in the Human Agent period', () => {
  assert.equal(replyRefusal(open, new Date('2026-01-01T12:00:00Z')), null);
  const human = { ...open, window: { state: 'human_agent', closes_at: '2026-01-01T00:00:00Z', human_agent_until: '2026-01-07T00:00:00Z' } };
  assert.equal(replyRefusal(human, new Date('2026-01-02T00:00:00Z')), null);
});

test('a closed window, a resolved conversation and a lead are refused with the reason', () => {
  const closed = { ...open, window: { state: 'closed', closes_at: '2026-01-01T00:00:00Z', human_agent_until: null } };
  assert.match(replyRefusal(closed, new Date('2026-01-03T00:00:00Z')), /24-hour messaging window closed at .*Human Agent feature is off/);
  const ended = { ...open, window: { state: 'closed', closes_at: '2026-01-01T00:00:00Z', human_agent_until: '2026-01-07T00:00:00Z' } };
  assert.match(replyRefusal(ended, new Date('2026-01-08T00:00:00Z')), /Human Agent period ended/);
  assert.match(replyRefusal({ ...open, status: 'resolved' }, new Date()), /resolved\. Reopen/);
  assert.match(replyRefusal({ ...open, channel: 'lead' }, new Date()), /lead has no Messenger thread/);
  // Comments have no messaging window.
  assert.equal(replyRefusal({ channel: 'comment', status: 'open', window: { state: 'open' } }, new Date()), null);
});

test('what the API would refuse in a reply is listed before sending', () => {
  assert.deepEqual(replyProblems({ text: 'hi', quick: [], hasFile: false, privateReply: false }), []);
  assert.equal(replyProblems({ text: 'x'.repeat(2001), quick: [], hasFile: false, privateReply: false }).length, 1);
  // Instagram takes 1000 characters, Messenger 2000.
  assert.equal(replyProblems({ text: 'x'.repeat(1001), quick: [], hasFile: false, privateReply: false, channel: 'instagram' }).length, 1);
  assert.deepEqual(replyProblems({ text: 'x'.repeat(1001), quick: [], hasFile: false, privateReply: false, channel: 'messenger' }), []);
  const qr = replyProblems({ text: '', quick: [{ title: 'a title that is far too long' }], hasFile: false, privateReply: false });
  assert.equal(qr.length, 2);
  assert.equal(replyProblems({ text: 'hi', quick: [], hasFile: true, privateReply: true }).length, 1);
  assert.equal(replyProblems({ text: 'hi', quick: Array(14).fill({ title: 'ok' }), hasFile: false, privateReply: false }).length, 1);
});

test('unread: a person message newer than what this browser saw', () => {
  const c = { last_inbound_at: '2026-01-01T10:00:00Z', last_message: { direction: 'in' } };
  assert.equal(isUnread(c, null), true);
  assert.equal(isUnread(c, '2026-01-01T09:00:00Z'), true);
  assert.equal(isUnread(c, '2026-01-01T10:00:00Z'), false);
  assert.equal(isUnread({ ...c, last_message: { direction: 'out' } }, null), false);
  assert.equal(isUnread({ last_inbound_at: null }, null), false);
});

test('the row preview names who wrote last', () => {
  assert.equal(preview({ last_message: { direction: 'in', author_type: 'contact', text: 'Hello' } }), 'Hello');
  assert.equal(preview({ last_message: { direction: 'out', author_type: 'agent', text: 'Hi' } }), 'You: Hi');
  assert.equal(preview({ last_message: { direction: 'out', author_type: 'bot', text: 'Hi' } }), 'AI agent: Hi');
  assert.equal(preview({ last_message: { direction: 'in', author_type: 'contact', text: null, attachment: 'image' } }), '[image]');
  assert.equal(preview({ last_message: null, subject: 'Lead form 1' }), 'Lead form 1');
});

test('spans read as minutes, hours, days', () => {
  assert.equal(span(-5000), '0 min');
  assert.equal(span(59 * 60000), '59 min');
  assert.equal(span(25 * 3600000 + 60000), '25 h 1 min');
  assert.equal(span(50 * 3600000), '2 days 2 h');
});

test('API errors in words: the code, the API message and every problem', () => {
  const w = errorWords(422, { error: { code: 'invalid_request', message: 'body', problems: ['text: too long', 'quick_replies: 14'] } });
  assert.match(w, /refused what was sent/);
  assert.match(w, /text: too long; quick_replies: 14/);
  assert.match(errorWords(409, { error: { code: 'window_closed', message: 'closed' } }), /messaging window is closed/);
  assert.equal(errorWords(502, null), 'The API answered 502.');
});

test('query strings skip empty filters; claims are read from the token', () => {
  assert.equal(query({ status: 'open', assignee: '', page_id: null, cursor: 'a b' }), '?status=open&cursor=a%20b');
  assert.equal(query({}), '');
  const payload = Buffer.from(JSON.stringify({ sub: 'alice', account: 'acct', role: 'admin' })).toString('base64url');
  assert.deepEqual(claimsOf(`h.${payload}.s`), { sub: 'alice', account: 'acct', role: 'admin', exp: null });
  assert.equal(claimsOf('junk'), null);
});

test('a saved reply is filled in from what the inbox knows, and closes up what it does not', async () => {
  const { fillSavedReply, savedReplyChoices } = await import('../src/logic.js');
  const text = 'Hi {{contact.first_name}}, this is {{agent.name}} from {{ page.name }}.';
  assert.equal(fillSavedReply(text, { contact: { name: 'Žofia Nováková' }, agent: { name: 'Ann' }, page: { name: 'Shop' } }), 'Hi Žofia, this is Ann from Shop.');
  assert.equal(fillSavedReply(text, { contact: { name: null }, agent: { name: 'Ann' } }), 'Hi, this is Ann from.');
  assert.equal(fillSavedReply('Dear {{contact.name}}', { contact: { name: 'Ana Li' } }), 'Dear Ana Li');
  const replies = [
    { shortcut: 'refund', text: 'Your refund is on its way' },
    { shortcut: 'hello', text: 'Hi there' },
    { shortcut: 'ship', text: 'Shipping takes 3 days; refund if late' },
  ];
  assert.equal(savedReplyChoices(replies, 'no slash'), null);
  assert.deepEqual(savedReplyChoices(replies, '/ref').map((r) => r.shortcut), ['refund', 'ship']);
  assert.deepEqual(savedReplyChoices(replies, '/').map((r) => r.shortcut), ['hello', 'refund', 'ship']);
});

test('notices follow the agent\'s preferences and leave out the old and their own', async () => {
  const { noticesFor } = await import('../src/logic.js');
  const at = '2026-12-05T10:00:00Z';
  const events = [
    { type: 'conversation.assigned', conversation_id: 'c1', created_at: at, data: { assignee: 'ann', previous: null } },
    { type: 'message.created', conversation_id: 'c1', created_at: at, data: { direction: 'in' } },
    { type: 'message.created', conversation_id: 'c2', created_at: at, data: { direction: 'in' } },
    { type: 'message.created', conversation_id: 'c1', created_at: at, data: { direction: 'out' } },
    { type: 'note.created', conversation_id: 'c3', created_at: at, data: { mentions: ['ann'], note: { author: { id: 'bob' } } } },
    { type: 'note.created', conversation_id: 'c3', created_at: at, data: { mentions: ['ann'], note: { author: { id: 'ann' } } } },
    { type: 'conversation.assigned', conversation_id: 'c9', created_at: '2026-12-05T09:00:00Z', data: { assignee: 'ann' } },
    { type: 'conversation.unsnoozed', conversation_id: 'c1', created_at: at, data: { by: 'time' } },
    { type: 'conversation.unsnoozed', conversation_id: 'c1', created_at: at, data: { by: 'message' } },
    { type: 'conversation.unsnoozed', conversation_id: 'c2', created_at: at, data: { by: 'time' } },
  ];
  const all = { assigned: true, messages: true, mentions: true };
  const ctx = { me: 'ann', mine: new Set(['c1']), prefs: all, since: new Date('2026-12-05T09:30:00Z') };
  assert.deepEqual(noticesFor(events, ctx).map((n) => [n.kind, n.conversation_id]), [['assigned', 'c1'], ['message', 'c1'], ['mention', 'c3'], ['unsnoozed', 'c1']]);
  assert.deepEqual(noticesFor(events, { ...ctx, prefs: { ...all, messages: false, assigned: false } }).map((n) => n.kind), ['mention']);
});

test('a snoozed conversation takes replies; the snooze choices are ahead, in local time', () => {
  assert.equal(replyRefusal({ ...open, status: 'snoozed' }, new Date('2026-01-01T12:00:00Z')), null);
  // A Wednesday afternoon, local time.
  const wed = new Date(2026, 0, 7, 15, 30);
  const [hour, tomorrow, monday] = snoozeChoices(wed).map((c) => new Date(c.until));
  assert.equal(hour - wed, 3600000);
  assert.deepEqual([tomorrow.getDate(), tomorrow.getHours(), tomorrow.getMinutes()], [8, 9, 0]);
  assert.deepEqual([monday.getDay(), monday.getDate(), monday.getHours()], [1, 12, 9]);
  // On a Monday, "Monday" is the next one.
  const mon = new Date(2026, 0, 12, 8, 0);
  assert.equal(new Date(snoozeChoices(mon)[2].until).getDate(), 19);
  assert.equal(snoozeUntil('', wed), null);
  assert.equal(snoozeUntil('2026-01-07T15:00', wed), null, 'in the past');
  assert.equal(snoozeUntil('2026-01-09T10:15', wed), new Date(2026, 0, 9, 10, 15).toISOString());
});
