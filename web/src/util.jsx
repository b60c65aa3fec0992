import { useState } from 'preact/hooks';

// Small pieces every view uses: times, channel icons, avatars, error lines.

export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay
    ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

export const CHANNELS = {
  messenger: 'Messenger',
  comment: 'Comment',
  lead: 'Lead ad',
  instagram: 'Instagram',
  instagram_comment: 'Instagram comment',
};

// The channel's mark: Messenger's bolt bubble, a speech balloon for comments, a form for leads.
export function ChannelIcon({ channel }) {
  const label = CHANNELS[channel] ?? channel;
  const common = { width: 18, height: 18, viewBox: '0 0 24 24', role: 'img', 'aria-label': label, class: `icon icon-${channel}` };
  if (channel === 'messenger') {
    return (
      <svg {...common}>
        <title>{label}</title>
        <path fill="#0866ff" d="M12 2C6.4 2 2 6.1 2 11.6c0 2.9 1.2 5.4 3.1 7.1V22l2.9-1.6c1.2.3 2.5.5 4 .5 5.6 0 10-4.1 10-9.6S17.6 2 12 2z" />
        <path fill="#fff" d="M6 14.6l3-4.7 2.5 1.9 3.5-2.6-3 4.7-2.5-1.9z" />
      </svg>
    );
  }
  if (channel === 'instagram' || channel === 'instagram_comment') {
    // Instagram's camera; a comment on Instagram carries a small balloon.
    return (
      <svg {...common}>
        <title>{label}</title>
        <rect x="2.5" y="2.5" width="19" height="19" rx="5.5" fill="#d62976" />
        <circle cx="12" cy="12" r="4.3" fill="none" stroke="#fff" stroke-width="2" />
        <circle cx="17.3" cy="6.7" r="1.3" fill="#fff" />
        {channel === 'instagram_comment' && <path fill="#fff" stroke="#d62976" stroke-width="1" d="M14 15h8v5h-4l-2 2v-2h-2z" />}
      </svg>
    );
  }
  if (channel === 'comment') {
    return (
      <svg {...common}>
        <title>{label}</title>
        <path fill="#42a847" d="M4 3h16a2 2 0 012 2v11a2 2 0 01-2 2H9l-5 4v-4a2 2 0 01-2-2V5a2 2 0 012-2z" />
        <path fill="#fff" d="M6 7h12v2H6zm0 4h8v2H6z" />
      </svg>
    );
  }
  return (
    <svg {...common}>
      <title>{label}</title>
      <path fill="#b05c00" d="M6 2h9l5 5v15H6z" />
      <path fill="#fff" d="M8.5 10h9v1.6h-9zm0 3.5h9v1.6h-9zm0 3.5h6v1.6h-6z" />
    </svg>
  );
}

export function Avatar({ contact }) {
  const name = contact?.name || '';
  // Meta's picture URLs expire: a picture that no longer loads falls back to the initials.
  const [broken, setBroken] = useState(false);
  if (contact?.picture_url && !broken) {
    return <img class="avatar" src={contact.picture_url} alt="" width="36" height="36" loading="lazy" onError={() => setBroken(true)} />;
  }
  const initials = name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => w[0].toUpperCase())
    .join('');
  return (
    <span class="avatar avatar-initials" aria-hidden="true">
      {initials || '?'}
    </span>
  );
}

export function contactName(contact) {
  if (contact?.erased) return 'Erased contact';
  return contact?.name || 'Unknown person';
}

export function ErrorLine({ error }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error.words ?? String(error.message ?? error)}
    </p>
  );
}
