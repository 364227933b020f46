// Drafts of the open create and edit forms, kept in localStorage as the
// manager types, per user, project, form and resource: after a session
// ends, a sign-in again or a full page reload, reopening the form (or the
// project page reopening it by itself) restores them. A draft never holds a
// secret; it is cleared on save, cancel and discard.

const PREFIX = 'bucketdesk.draft:';
/** DRAFT_MAX_AGE_MS: drafts older than this are forgotten (7 days). */
export const DRAFT_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

const secretKey = /secret|passphrase|password|token/i;

/**
 * withoutSecrets copies a JSON value without any field whose name speaks
 * of a secret (secret access keys, passphrases, passwords, tokens).
 */
export function withoutSecrets(v) {
  if (Array.isArray(v)) return v.map(withoutSecrets);
  if (v && typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v)) if (!secretKey.test(k)) out[k] = withoutSecrets(x);
    return out;
  }
  return v;
}

/** draftKey is the storage key of a form's draft. */
export function draftKey({ user, project, form, resource }) {
  return PREFIX + [user, project, form, resource || ''].map(encodeURIComponent).join(':');
}

function store() {
  try {
    return globalThis.localStorage || null;
  } catch {
    return null; // storage disabled
  }
}

/**
 * saveDraft keeps draft = {base, baseVersion, values} of the form id
 * ({user, project, form, resource}) with the time; open says whether the
 * form is open (the page reopens such a form after a sign-in or reload).
 */
export function saveDraft(id, draft, open = true, now = Date.now()) {
  const s = store();
  if (!s || !id.user) return;
  const rec = withoutSecrets({ ...draft, ...id, open, savedAt: now });
  try {
    s.setItem(draftKey(id), JSON.stringify(rec));
  } catch {
    // full or disabled: the form still works, without a draft
  }
}

/** loadDraft returns the draft of the form id, or null (also when too old). */
export function loadDraft(id, now = Date.now()) {
  const s = store();
  if (!s || !id.user) return null;
  try {
    const rec = JSON.parse(s.getItem(draftKey(id)) || 'null');
    if (!rec || typeof rec !== 'object') return null;
    if (!(now - rec.savedAt < DRAFT_MAX_AGE_MS)) {
      s.removeItem(draftKey(id));
      return null;
    }
    return rec;
  } catch {
    return null;
  }
}

/** markClosed keeps the draft of id but notes that its form is no longer open. */
export function markClosed(id, now = Date.now()) {
  const rec = loadDraft(id, now);
  if (rec) saveDraft(id, rec, false, rec.savedAt);
}

/** clearDraft forgets the draft of the form id. */
export function clearDraft(id) {
  try {
    store()?.removeItem(draftKey(id));
  } catch {
    // storage disabled
  }
}

/**
 * openDrafts lists the drafts of user in project whose form was open when
 * the page or session ended, newest first.
 */
export function openDrafts(user, project, now = Date.now()) {
  const s = store();
  if (!s) return [];
  const prefix = PREFIX + [user, project].map(encodeURIComponent).join(':') + ':';
  const out = [];
  for (let i = 0; i < s.length; i++) {
    const k = s.key(i);
    if (!k?.startsWith(prefix)) continue;
    try {
      const rec = JSON.parse(s.getItem(k));
      if (rec?.open && now - rec.savedAt < DRAFT_MAX_AGE_MS) out.push(rec);
    } catch {
      // not ours
    }
  }
  return out.sort((a, b) => b.savedAt - a.savedAt);
}
