// The create, edit and delete forms of buckets and users, the access key
// dialogs (reveal once, rotate), and how server problems are shown: next
// to their field (errors[].field) or as a banner (detail).

import { api, ApiError } from './api.js';
import { granteesNote, granteesOf, withoutBuckets } from './dependants.js';
import { openDialog } from './dialog.js';
import { clock, copyText, fill, h } from './dom.js';
import { openDrafts } from './drafts.js';
import { formEdits } from './formedits.js';
import { VersioningOffHint } from './resources.js';
import {
  accessUntilProblem, checkBucketReferences, checkUserReferences, EncryptionKMS, EncryptionS3, MaxAccessDays, MaxAccessKeys, MaxExpiryDays, MaxGrants, MaxTags,
  rotateKeyProblem, validateBucket, validateUser,
} from './validate.js';

let uid = 0;
const nextId = (p) => `${p}-${++uid}`;

const lockVerbs = {
  create: 'being created',
  update: 'being updated',
  delete: 'being deleted',
  'rotate-key': 'having an access key rotated',
};

/** lockText is "being updated by bob since 10:42:05". */
export function lockText(lock, me) {
  const verb = lockVerbs[lock.action] || `locked for ${lock.action}`;
  const who = lock.by === me ? 'you' : lock.by;
  return `${verb} by ${who} since ${clock(lock.since)}`;
}

// FormErrors places problems next to the fields they concern. A field
// registered as "grants[1].bucket" takes that exact problem; a problem of
// an unregistered field goes to its nearest registered parent
// ("sftp.ssh_keys[2]" → "sftp.ssh_keys"), else to the banner.
class FormErrors {
  constructor(banner) {
    this.banner = banner;
    this.fields = new Map(); // field → {input, error, label}
  }

  register(field, input, error, label) {
    this.fields.set(field, { input, error, label });
  }

  unregisterPrefix(prefix) {
    for (const k of [...this.fields.keys()]) {
      if (k.startsWith(prefix)) this.fields.delete(k);
    }
  }

  clear() {
    for (const { input, error } of this.fields.values()) {
      fill(error);
      error.hidden = true;
      input?.removeAttribute('aria-invalid');
    }
    fill(this.banner);
    this.banner.hidden = true;
    this.banner.className = 'banner';
  }

  clearField(field) {
    const f = this.fields.get(field);
    if (!f) return;
    fill(f.error);
    f.error.hidden = true;
    f.input?.removeAttribute('aria-invalid');
  }

  /**
   * show places problems and, unless focus is false, focuses the first
   * field concerned; returns how many.
   */
  show(problems, focus = true) {
    let first = null;
    const loose = [];
    for (const p of problems) {
      let field = p.field || '';
      let prefix = '';
      while (field && !this.fields.has(field)) {
        const m = field.match(/^(.*)(\[(\d+)\]|\.[^.[\]]+)$/);
        if (!m) {
          field = '';
          break;
        }
        prefix = describePart(m[1], m[2]) + prefix;
        field = m[1];
      }
      const f = field && this.fields.get(field);
      if (!f) {
        loose.push(p);
        continue;
      }
      f.error.append(h('span', {}, (prefix ? prefix + ': ' : '') + p.message));
      f.error.hidden = false;
      f.input?.setAttribute('aria-invalid', 'true');
      first ??= f.input;
    }
    if (loose.length) {
      this.banner.hidden = false;
      this.banner.className = 'banner banner-error';
      this.banner.append(h('p', {}, 'Please correct the following:'),
        h('ul', {}, loose.map((p) => h('li', {}, p.field ? `${p.field}: ${p.message}` : p.message))));
      first ??= this.banner;
    }
    if (focus) first?.focus();
    return problems.length;
  }

  /** say shows a message in the banner: kind is error, warn or info. */
  say(kind, ...content) {
    fill(this.banner, h('p', {}, ...content));
    this.banner.hidden = false;
    this.banner.className = `banner banner-${kind}`;
    this.banner.focus();
  }
}

// describePart names the part of a field that has no control of its own:
// "sftp.ssh_keys" + "[1]" is "Key 2" (the second key in the textarea).
function describePart(parent, part) {
  const m = part.match(/^\[(\d+)\]$/);
  if (m && parent === 'sftp.ssh_keys') return `Key ${Number(m[1]) + 1}`;
  if (m) return `#${Number(m[1]) + 1}`;
  return part.replace(/^\./, ' ');
}

/** field builds a labelled control with its hint and error slot. */
function field({ label, control, hint, errors, name, className }) {
  const id = control.id || (control.id = nextId('f'));
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  const errorEl = h('p', { class: 'field-error', id: `${id}-err`, hidden: true });
  control.setAttribute('aria-describedby', [hintEl && `${id}-hint`, `${id}-err`].filter(Boolean).join(' '));
  if (errors && name) errors.register(name, control, errorEl);
  const isCheck = control.type === 'checkbox';
  const labelEl = h('label', { for: id }, label);
  return h('div', { class: ['field', isCheck && 'field-check', className] },
    isCheck ? [control, labelEl] : [labelEl, control], hintEl, errorEl);
}

function errorSlot(errors, name, control) {
  const el = h('p', { class: 'field-error', id: nextId('err'), hidden: true });
  errors.register(name, control, el);
  if (control) {
    const d = control.getAttribute('aria-describedby');
    control.setAttribute('aria-describedby', [d, el.id].filter(Boolean).join(' '));
  }
  return el;
}

/**
 * submitWrite sends a write and handles its answers: 202 → progress panel;
 * 400 invalid → field errors; 409 locked → the holder; 412 → onConflict
 * (the edit forms: what changed, re-apply), else reload (onStale).
 */
async function submitWrite({ ctx, errors, button, send, onAccepted, onStale, onConflict }) {
  let retry = false;
  button.disabled = true;
  const label = button.textContent;
  button.textContent = 'Sending…';
  try {
    const op = await send();
    ctx.ops.track(op);
    onAccepted(op);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    errors.clear();
    if (err.status === 412 && onConflict) retry = await onConflict();
    else showProblem(errors, err, ctx, onStale);
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
  if (retry) button.form?.requestSubmit(button);
}

function showProblem(errors, err, ctx, onStale) {
  const p = err.problem;
  if (err.status === 400 && Array.isArray(p.errors) && p.errors.length) {
    errors.show(p.errors);
    return;
  }
  if (err.status === 409 && p.lock) {
    errors.say('warn', h('strong', {}, 'Someone else is changing it. '),
      `It is ${lockText(p.lock, ctx.me)}. Try again when that change has finished.`);
    return;
  }
  if (err.status === 412) {
    errors.say('warn', h('strong', {}, 'It changed while you were editing. '),
      'The form now shows the latest version; check your changes and save again.');
    onStale?.();
    return;
  }
  if (err.status === 401) return; // signed out (the sign-in dialog was left)
  const retry = err.retryAfter ? ` Try again in ${err.retryAfter} s.` : '';
  errors.say('error', h('strong', {}, (p.title || 'Error') + ': '), (p.detail || err.message) + retry);
}

/**
 * watchResource keeps a live notice in an edit form: when someone else
 * starts changing the resource, or it changed since the form was opened,
 * the user learns it before saving. Returns a function that stops it.
 */
function watchResource(ctx, kind, name, notice, versionOf, submit, describeNewer) {
  let shown = '';
  const update = () => {
    const r = ctx.store.get(kind, name);
    let text = null;
    let kindOf = 'info';
    if (!r) {
      text = `This ${kind} is gone: it was deleted meanwhile.`;
      kindOf = 'error';
    } else if (r.lock && r.lock.by !== ctx.me) {
      text = `It is now ${lockText(r.lock, ctx.me)}; you can save when that change has finished.`;
      kindOf = 'warn';
    } else if (r.version > versionOf()) {
      text = describeNewer ? describeNewer(r) : 'It has changed since you opened this form; saving will show you the latest version first.';
      kindOf = 'warn';
    }
    submit.disabled = Boolean(r?.lock && r.lock.by !== ctx.me) || !r;
    // Rebuilt only when it says something new: it may hold a button.
    const key = text ? `${kindOf}:${r?.version}:${r?.lock?.by || ''}:${versionOf()}` : '';
    if (key === shown) return;
    shown = key;
    if (!text) {
      notice.hidden = true;
      fill(notice);
      return;
    }
    notice.hidden = false;
    notice.className = `banner banner-${kindOf} live-notice`;
    fill(notice, text);
  };
  update();
  const stop = ctx.watch ? ctx.watch(update) : () => {};
  return { stop, refresh: update };
}

// ---------------------------------------------------------------- buckets

/**
 * versioningHint is the hint of the versioning checkbox: S3 can suspend a
 * bucket's versioning, never remove it.
 */
function versioningHint(resource) {
  if (!resource) return 'Once a bucket is versioned, turning versioning off only suspends it.';
  if (resource.spec?.bucket?.versioning_suspended) return `Versioning is suspended. ${VersioningOffHint}`;
  return VersioningOffHint;
}

/** openBucketForm opens the create form (resource null) or the edit form of a bucket. */
export function openBucketForm(ctx, resource) {
  const editing = Boolean(resource);
  const banner = h('div', { class: 'banner', role: 'alert', tabindex: '-1', hidden: true });
  const errors = new FormErrors(banner);

  const name = h('input', { type: 'text', name: 'name', autocomplete: 'off', spellcheck: 'false', required: true, maxlength: '255', readonly: editing, class: 'mono' });
  const versioning = h('input', { type: 'checkbox', name: 'versioning' });
  const encS3 = h('input', { type: 'radio', name: 'encryption', value: EncryptionS3, id: nextId('enc') });
  const encKMS = h('input', { type: 'radio', name: 'encryption', value: EncryptionKMS, id: nextId('enc') });
  const kmsArn = h('input', { type: 'text', name: 'kms_key_arn', autocomplete: 'off', spellcheck: 'false', class: 'mono', placeholder: 'arn:aws:kms:eu-west-1:123456789012:key/…' });
  const expiry = h('input', { type: 'number', name: 'expiry_days', min: '0', max: String(MaxExpiryDays), step: '1', inputmode: 'numeric', class: 'narrow' });
  const tagRows = h('tbody');
  const tagsError = h('p', { class: 'field-error', id: nextId('err'), hidden: true });
  const addTag = h('button', { type: 'button', class: 'secondary small' }, 'Add tag');

  const encFieldset = h('fieldset', { class: 'field' },
    h('legend', {}, 'Encryption'),
    h('div', { class: 'radio-row' },
      h('span', { class: 'radio' }, encS3, h('label', { for: encS3.id }, 'SSE-S3 (Amazon S3 managed keys)')),
      h('span', { class: 'radio' }, encKMS, h('label', { for: encKMS.id }, 'SSE-KMS (a KMS key of yours)'))),
  );
  const encTypeErr = errorSlot(errors, 'encryption.type', encS3);
  encFieldset.append(encTypeErr);
  const kmsField = field({ label: 'KMS key ARN', control: kmsArn, hint: 'The key ARN, not an alias, such as arn:aws:kms:eu-west-1:123456789012:key/1234abcd-…', errors, name: 'encryption.kms_key_arn' });
  encFieldset.append(kmsField);

  const tagsTable = h('table', { class: 'editor-table' },
    h('caption', { class: 'visually-hidden' }, 'Tags'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'Value'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Remove')))),
    tagRows);
  const tagsFieldset = h('fieldset', { class: 'field' }, h('legend', {}, 'Tags'),
    h('p', { class: 'hint' }, `Up to ${MaxTags} tags. bucketdesk adds its own identity tags.`),
    tagsTable, tagsError, addTag);
  errors.register('tags', addTag, tagsError);

  function tagRow(k = '', v = '') {
    const n = tagRows.children.length + 1;
    const key = h('input', { type: 'text', class: 'tag-key', value: k, 'aria-label': `Tag ${n} key`, autocomplete: 'off' });
    const val = h('input', { type: 'text', class: 'tag-value', value: v, 'aria-label': `Tag ${n} value`, autocomplete: 'off' });
    const err = h('p', { class: 'field-error', id: nextId('err'), hidden: true });
    key.setAttribute('aria-describedby', err.id);
    const remove = h('button', { type: 'button', class: 'icon-button', 'aria-label': `Remove tag ${n}`, title: 'Remove tag' }, '×');
    const row = h('tr', {}, h('td', {}, key, err), h('td', {}, val), h('td', {}, remove));
    row._tag = { key, val, err };
    remove.addEventListener('click', () => {
      const next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      renumberTags();
      (next?._tag.key || addTag).focus();
    });
    tagRows.append(row);
    return row;
  }
  function renumberTags() {
    [...tagRows.children].forEach((row, i) => {
      row._tag.key.setAttribute('aria-label', `Tag ${i + 1} key`);
      row._tag.val.setAttribute('aria-label', `Tag ${i + 1} value`);
      row.querySelector('button').setAttribute('aria-label', `Remove tag ${i + 1}`);
    });
  }
  addTag.addEventListener('click', () => tagRow()._tag.key.focus());

  function syncEncryption() {
    const kms = encKMS.checked;
    kmsArn.disabled = !kms;
    kmsField.hidden = !kms;
  }
  encS3.addEventListener('change', syncEncryption);
  encKMS.addEventListener('change', syncEncryption);

  function load(spec) {
    const b = spec || { encryption: { type: EncryptionS3 } };
    name.value = b.name || '';
    versioning.checked = Boolean(b.versioning);
    encKMS.checked = b.encryption?.type === EncryptionKMS;
    encS3.checked = !encKMS.checked;
    kmsArn.value = b.encryption?.kms_key_arn || '';
    expiry.value = b.expiry_days ? String(b.expiry_days) : '0';
    tagRows.replaceChildren();
    for (const [k, v] of Object.entries(b.tags || {}).sort(([a], [c]) => (a < c ? -1 : 1))) tagRow(k, v);
    syncEncryption();
  }

  // collect reads the form into a BucketSpec, with the problems that only
  // a form can have (a map cannot hold a key twice; a day count is whole).
  function collect() {
    const local = [];
    const spec = { name: name.value, versioning: versioning.checked, encryption: { type: encKMS.checked ? EncryptionKMS : EncryptionS3 } };
    if (encKMS.checked) spec.encryption.kms_key_arn = kmsArn.value.trim();
    const days = expiry.value.trim() === '' ? 0 : Number(expiry.value);
    if (!Number.isInteger(days)) local.push({ field: 'expiry_days', message: 'must be a whole number of days' });
    else if (days) spec.expiry_days = days;
    const tags = {};
    errors.unregisterPrefix('tags.');
    for (const row of tagRows.children) {
      const { key, val, err } = row._tag;
      if (key.value === '' && val.value === '') continue;
      errors.register('tags.' + key.value, key, err);
      if (Object.hasOwn(tags, key.value)) local.push({ field: 'tags.' + key.value, message: 'key is used twice' });
      tags[key.value] = val.value;
    }
    if (Object.keys(tags).length) spec.tags = tags;
    return { spec, local };
  }

  const submit = h('button', { type: 'submit', class: 'primary' }, editing ? 'Save changes' : 'Create bucket');
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  const notice = h('div', { class: 'banner', role: 'status', hidden: true });
  const notes = h('div', { class: 'edits-notes' });
  const form = h('form', { novalidate: true, class: 'form' },
    notice,
    notes,
    banner,
    field({ label: 'Bucket name', control: name, errors, name: 'name', hint: editing ? 'A bucket cannot be renamed.' : '3 to 63 characters: lowercase letters, digits, dots and hyphens. Bucket names are global across AWS.' }),
    field({ label: 'Keep every version of each object (versioning)', control: versioning, errors, name: 'versioning', hint: versioningHint(resource) }),
    encFieldset,
    field({ label: 'Expire objects after (days)', control: expiry, errors, name: 'expiry_days', hint: `0 for no expiry; at most ${MaxExpiryDays}.` }),
    tagsFieldset,
    h('p', { class: 'hint' }, 'Public access is always blocked and encryption is always on.'),
    h('div', { class: 'form-actions' }, cancel, submit));

  load(resource?.spec?.bucket);
  const edits = formEdits({
    ctx, kind: 'bucket', resource, form, slot: notes, collect: () => collect().spec, load,
    focusFirst: () => (editing ? versioning : name).focus(),
  });

  // A name that breaks the rules says so when the field is left, and stops
  // saying so as soon as it is fixed.
  // (Not when leaving it for a button: the message would move the button
  // away between press and release, and submitting says it anyway.)
  name.addEventListener('blur', (e) => {
    if (editing || name.value === '' || e.relatedTarget?.tagName === 'BUTTON') return;
    errors.clearField('name');
    errors.show(validateBucket(collect().spec).filter((p) => p.field === 'name'), false);
  });
  name.addEventListener('input', () => {
    if (name.getAttribute('aria-invalid') && validateBucket(collect().spec).every((p) => p.field !== 'name')) errors.clearField('name');
  });

  const watch = editing ? watchResource(ctx, 'bucket', resource.name, notice, () => edits.version, submit, edits.describeNewer) : null;
  edits.setWatch(watch);
  const dlg = openDialog({
    title: editing ? `Edit bucket ${resource.name}` : 'New bucket', body: form, wide: true, initialFocus: () => (editing ? versioning : name),
    onClose: (_, quiet) => {
      watch?.stop();
      edits.closed(quiet);
    },
  });
  cancel.addEventListener('click', () => dlg.close());

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    errors.clear();
    const { spec, local } = collect();
    const problems = [...local, ...validateBucket(spec)];
    if (problems.length === 0) problems.push(...checkBucketReferences(spec, ctx.project));
    if (problems.length) {
      errors.show(problems);
      return;
    }
    edits.clearNotes();
    await submitWrite({
      ctx, errors, button: submit,
      send: () => (editing ? api.update(ctx.project.id, 'bucket', resource.name, spec, edits.version) : api.create(ctx.project.id, 'bucket', spec)),
      onAccepted: () => {
        edits.saved();
        dlg.close();
      },
      onConflict: () => edits.onConflict(),
    });
    watch?.refresh();
  });
  return dlg;
}

// ------------------------------------------------------------------ users

/**
 * openUserForm opens the create form (resource null) or the edit form of a
 * user; opts.dropBuckets opens it without the grants on those buckets (the
 * fix of grants on buckets that are gone), to be saved.
 */
export function openUserForm(ctx, resource, opts = {}) {
  const drop = opts.dropBuckets || [];
  const editing = Boolean(resource);
  let keySerials = resource?.spec?.user?.key_serials;
  const banner = h('div', { class: 'banner', role: 'alert', tabindex: '-1', hidden: true });
  const errors = new FormErrors(banner);
  const bucketNames = ctx.store.list('bucket').filter((b) => b.observed?.phase !== 'deleting').map((b) => b.name);

  const name = h('input', { type: 'text', name: 'name', autocomplete: 'off', spellcheck: 'false', required: true, maxlength: '255', readonly: editing, class: 'mono' });
  const keys = h('select', { name: 'access_keys' },
    [0, 1, 2].map((n) => h('option', { value: String(n) }, n === 0 ? 'None' : String(n))));
  const grantRows = h('tbody');
  const grantsError = h('p', { class: 'field-error', id: nextId('err'), hidden: true });
  const addGrant = h('button', { type: 'button', class: 'secondary small', disabled: bucketNames.length === 0 }, 'Add grant');
  const noBuckets = bucketNames.length === 0 ? h('p', { class: 'hint' }, 'This project has no buckets yet: create a bucket first to grant access to it.') : null;
  const sftpOn = h('input', { type: 'checkbox', name: 'sftp', disabled: !ctx.project.sftp && !resource?.spec?.user?.sftp?.enabled });
  const accessUntil = h('input', { type: 'datetime-local', name: 'access_until', step: '60' });
  const prevUntil = resource?.spec?.user?.access_until || '';
  const sshKeys = h('textarea', { name: 'ssh_keys', rows: '4', spellcheck: 'false', class: 'mono', placeholder: 'ssh-ed25519 AAAAC3Nza… partner@example' });

  errors.register('grants', addGrant, grantsError);
  const grantsTable = h('table', { class: 'editor-table' },
    h('caption', { class: 'visually-hidden' }, 'Grants'),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Bucket'), h('th', { scope: 'col' }, 'Access'), h('th', { scope: 'col' }, 'Key prefix (optional)'),
      h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Remove')))),
    grantRows);
  const grantsFieldset = h('fieldset', { class: 'field' }, h('legend', {}, 'Bucket access'),
    h('p', { class: 'hint' }, `Up to ${MaxGrants} grants. A prefix limits the grant to keys below it, such as incoming/.`),
    grantsTable, noBuckets, grantsError, addGrant);

  function grantRow(g = { bucket: bucketNames[0] || '', access: 'read', prefix: '' }) {
    const n = grantRows.children.length + 1;
    const options = [...bucketNames];
    if (g.bucket && !options.includes(g.bucket)) options.push(g.bucket);
    const bucket = h('select', { class: 'grant-bucket', 'aria-label': `Grant ${n} bucket` },
      options.map((b) => h('option', { value: b, selected: b === g.bucket }, bucketNames.includes(b) ? b : `${b} (not a bucket of this project)`)));
    const access = h('select', { class: 'grant-access', 'aria-label': `Grant ${n} access` },
      [['read', 'Read'], ['write', 'Write'], ['readwrite', 'Read and write']].map(([v, t]) => h('option', { value: v, selected: v === g.access }, t)));
    const prefix = h('input', { type: 'text', class: 'grant-prefix mono', value: g.prefix || '', 'aria-label': `Grant ${n} key prefix`, autocomplete: 'off', spellcheck: 'false' });
    const errs = ['', '.bucket', '.access', '.prefix'].map(() => h('p', { class: 'field-error', id: nextId('err'), hidden: true }));
    bucket.setAttribute('aria-describedby', `${errs[0].id} ${errs[1].id}`);
    access.setAttribute('aria-describedby', errs[2].id);
    prefix.setAttribute('aria-describedby', errs[3].id);
    const remove = h('button', { type: 'button', class: 'icon-button', 'aria-label': `Remove grant ${n}`, title: 'Remove grant' }, '×');
    const row = h('tr', {}, h('td', {}, bucket, errs[0], errs[1]), h('td', {}, access, errs[2]), h('td', {}, prefix, errs[3]), h('td', {}, remove));
    row._grant = { bucket, access, prefix, errs };
    remove.addEventListener('click', () => {
      const next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      renumberGrants();
      (next?._grant.bucket || addGrant).focus();
    });
    grantRows.append(row);
    return row;
  }
  function renumberGrants() {
    [...grantRows.children].forEach((row, i) => {
      const g = row._grant;
      g.bucket.setAttribute('aria-label', `Grant ${i + 1} bucket`);
      g.access.setAttribute('aria-label', `Grant ${i + 1} access`);
      g.prefix.setAttribute('aria-label', `Grant ${i + 1} key prefix`);
      row.querySelector('button').setAttribute('aria-label', `Remove grant ${i + 1}`);
    });
  }
  addGrant.addEventListener('click', () => grantRow()._grant.bucket.focus());

  const sshField = field({ label: 'SSH public keys, one per line', control: sshKeys, errors, name: 'sftp.ssh_keys', hint: 'OpenSSH format: ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp256/384/521, then the base64 key and an optional comment.' });
  const sftpErr = errorSlot(errors, 'sftp', sftpOn);
  const sftpFieldset = h('fieldset', { class: 'field' }, h('legend', {}, 'SFTP'),
    field({ label: 'SFTP access (AWS Transfer Family), home folder on the granted buckets', control: sftpOn, errors, name: 'sftp.enabled', hint: ctx.project.sftp ? null : `Project ${ctx.project.id} has no SFTP server.` }),
    sftpErr, sshField);
  function syncSftp() {
    sshKeys.disabled = !sftpOn.checked;
    sshField.hidden = !sftpOn.checked;
  }
  sftpOn.addEventListener('change', syncSftp);

  function load(spec) {
    const u = spec || { access_keys: 1, grants: [], sftp: { enabled: false } };
    name.value = u.name || '';
    keys.value = String(u.access_keys ?? 0);
    keySerials = u.key_serials;
    grantRows.replaceChildren();
    for (const g of u.grants || []) grantRow(g);
    sftpOn.checked = Boolean(u.sftp?.enabled);
    sshKeys.value = (u.sftp?.ssh_keys || []).join('\n');
    accessUntil.value = toLocalInput(u.access_until);
    syncSftp();
  }

  function collect() {
    errors.unregisterPrefix('grants[');
    const grants = [...grantRows.children].map((row, i) => {
      const g = row._grant;
      errors.register(`grants[${i}]`, g.bucket, g.errs[0]);
      errors.register(`grants[${i}].bucket`, g.bucket, g.errs[1]);
      errors.register(`grants[${i}].access`, g.access, g.errs[2]);
      errors.register(`grants[${i}].prefix`, g.prefix, g.errs[3]);
      const out = { bucket: g.bucket.value, access: g.access.value };
      if (g.prefix.value !== '') out.prefix = g.prefix.value;
      return out;
    });
    const spec = { name: name.value, grants, access_keys: Number(keys.value), sftp: { enabled: sftpOn.checked } };
    if (accessUntil.value) spec.access_until = fromLocalInput(accessUntil.value, prevUntil);
    // Rotations are kept in the serials; an edit must not undo them.
    if (keySerials?.length) spec.key_serials = keySerials;
    if (sftpOn.checked) {
      const list = sshKeys.value.split('\n').map((s) => s.trim()).filter(Boolean);
      if (list.length) spec.sftp.ssh_keys = list;
    }
    return spec;
  }

  const submit = h('button', { type: 'submit', class: 'primary' }, editing ? 'Save changes' : 'Create user');
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  const notice = h('div', { class: 'banner', role: 'status', hidden: true });
  const notes = h('div', { class: 'edits-notes' });
  const form = h('form', { novalidate: true, class: 'form' },
    notice,
    notes,
    banner,
    field({ label: 'User name', control: name, errors, name: 'name', hint: editing ? 'A user cannot be renamed.' : '1 to 64 characters: letters, digits and + = . @ _ -' }),
    field({ label: 'Access keys', control: keys, errors, name: 'access_keys', hint: 'Each key can be revealed once after it is made, and rotated.' }),
    grantsFieldset,
    sftpFieldset,
    field({ label: 'Access ends (optional, your local time)', control: accessUntil, errors, name: 'access_until',
      hint: resource?.spec?.user?.expired ? 'The access has expired: its keys are inactive and SFTP is off. Set a later date, or clear it, to reactivate it.'
        : `IAM refuses the user from then on; its keys are deactivated and SFTP is turned off. At most ${MaxAccessDays} days ahead.` }),
    h('div', { class: 'form-actions' }, cancel, submit));
  errors.register('key_serials', keys, keys.parentElement.querySelector('.field-error'));

  load(resource?.spec?.user && drop.length ? withoutBuckets(resource.spec.user, drop) : resource?.spec?.user);
  if (drop.length) {
    form.prepend(h('div', { class: 'banner banner-info dropped-grants', role: 'status' },
      `Removed the grant${drop.length === 1 ? '' : 's'} on ${drop.join(', ')}: ${drop.length === 1 ? 'that bucket no longer exists' : 'those buckets no longer exist'}. Save changes to apply.`));
  }
  const edits = formEdits({
    ctx, kind: 'user', resource, form, slot: notes, collect, load, noDraft: drop.length > 0,
    focusFirst: () => (editing ? keys : name).focus(),
  });

  name.addEventListener('blur', (e) => {
    if (editing || name.value === '' || e.relatedTarget?.tagName === 'BUTTON') return;
    errors.clearField('name');
    errors.show(validateUser(collect()).filter((p) => p.field === 'name'), false);
  });
  name.addEventListener('input', () => {
    if (name.getAttribute('aria-invalid') && validateUser(collect()).every((p) => p.field !== 'name')) errors.clearField('name');
  });

  const watch = editing ? watchResource(ctx, 'user', resource.name, notice, () => edits.version, submit, edits.describeNewer) : null;
  edits.setWatch(watch);
  const dlg = openDialog({
    title: editing ? `Edit user ${resource.name}` : 'New user', body: form, wide: true, initialFocus: () => (drop.length ? submit : editing ? keys : name),
    onClose: (_, quiet) => {
      watch?.stop();
      edits.closed(quiet);
    },
  });
  cancel.addEventListener('click', () => dlg.close());

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    errors.clear();
    const spec = collect();
    const problems = validateUser(spec);
    const until = accessUntilProblem(spec.access_until || '', prevUntil, new Date());
    if (until) problems.push({ field: 'access_until', message: until });
    if (problems.length === 0) problems.push(...checkUserReferences(spec, ctx.project, new Set(bucketNames)));
    if (problems.length) {
      errors.show(problems);
      return;
    }
    edits.clearNotes();
    await submitWrite({
      ctx, errors, button: submit,
      send: () => (editing ? api.update(ctx.project.id, 'user', resource.name, spec, edits.version) : api.create(ctx.project.id, 'user', spec)),
      onAccepted: () => {
        edits.saved();
        dlg.close();
      },
      onConflict: () => edits.onConflict(),
    });
    watch?.refresh();
  });
  return dlg;
}

/**
 * reopenDrafts reopens the newest form of ctx's project that was open with
 * unsaved changes when the page or the session ended (web/drafts.js), its
 * changes restored; not when a dialog is open.
 */
export function reopenDrafts(ctx) {
  if (!ctx.project || document.querySelector('dialog[open]')) return null;
  for (const d of openDrafts(ctx.me, ctx.project.id)) {
    if (!d.resource) return d.form === 'bucket' ? openBucketForm(ctx, null) : openUserForm(ctx, null);
    const r = ctx.store.get(d.form, d.resource);
    if (!r) continue;
    return d.form === 'bucket' ? openBucketForm(ctx, r) : openUserForm(ctx, r);
  }
  return null;
}

/** toLocalInput turns an RFC 3339 time into a datetime-local value (local time). */
function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/**
 * fromLocalInput turns a datetime-local value into RFC 3339 UTC, whole
 * seconds; the unchanged value of prev gives prev back (its seconds kept).
 */
function fromLocalInput(value, prev) {
  if (prev && toLocalInput(prev) === value) return prev;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// ----------------------------------------------------------------- delete

/** openDeleteDialog asks to confirm deleting a bucket or user. */
export function openDeleteDialog(ctx, resource) {
  const banner = h('div', { class: 'banner', role: 'alert', tabindex: '-1', hidden: true });
  const errors = new FormErrors(banner);
  const confirm = h('button', { type: 'submit', class: 'danger' }, `Delete ${resource.kind}`);
  const cancel = h('button', { type: 'button', class: 'secondary', autofocus: true }, 'Cancel');
  const what = resource.kind === 'bucket'
    ? 'Its CloudFormation stack is deleted. CloudFormation cannot delete a bucket that still holds objects; empty it first.'
    : 'Its CloudFormation stack is deleted, with its access keys and SFTP access: whoever uses them loses access.';
  const form = h('form', { class: 'form', novalidate: true }, banner,
    h('p', {}, 'Delete ', h('strong', { class: 'mono' }, resource.name), ` from project ${ctx.project.id}? ${what}`),
    resource.kind === 'bucket' ? granteesNote(granteesOf(ctx.store, resource.name)) : null,
    h('div', { class: 'form-actions' }, cancel, confirm));
  const dlg = openDialog({ title: `Delete ${resource.kind} ${resource.name}?`, body: form, initialFocus: () => cancel });
  cancel.addEventListener('click', () => dlg.close());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    errors.clear();
    await submitWrite({
      ctx, errors, button: confirm,
      send: () => api.remove(ctx.project.id, resource.kind, resource.name, resource.version),
      onAccepted: () => dlg.close(),
      onStale: () => {
        confirm.textContent = `Delete ${resource.kind} anyway`;
        const fresh = ctx.store.get(resource.kind, resource.name);
        if (fresh) resource = fresh;
      },
    });
  });
  return dlg;
}

// ----------------------------------------------------------- access keys

/** openRotateDialog confirms rotating access key n (1 or 2) of a user. */
export function openRotateDialog(ctx, resource, n) {
  const banner = h('div', { class: 'banner', role: 'alert', tabindex: '-1', hidden: true });
  const errors = new FormErrors(banner);
  const go = h('button', { type: 'submit', class: 'primary' }, 'Rotate key');
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  const id = resource.observed?.outputs?.[`AccessKey${n}Id`];
  const form = h('form', { class: 'form', novalidate: true }, banner,
    h('p', {}, `A new access key ${n} is made for user `, h('strong', { class: 'mono' }, resource.name),
      ', then the current one', id ? [' (', h('code', {}, id), ')'] : '', ' is deleted and stops working. Reveal the new secret once the rotation is done.'),
    h('div', { class: 'form-actions' }, cancel, go));
  const dlg = openDialog({ title: `Rotate access key ${n}?`, body: form, initialFocus: () => cancel });
  cancel.addEventListener('click', () => dlg.close());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    errors.clear();
    const problem = rotateKeyProblem(resource.spec?.user, n);
    if (problem) {
      errors.say('error', problem);
      return;
    }
    await submitWrite({
      ctx, errors, button: go,
      send: () => api.rotateKey(ctx.project.id, resource.name, n, resource.version),
      onAccepted: () => dlg.close(),
      onStale: () => {
        const fresh = ctx.store.get('user', resource.name);
        if (fresh) resource = fresh;
      },
    });
  });
  return dlg;
}

/**
 * openRevealDialog asks for the secret of access key n, once, and shows it
 * with copy buttons, a .csv download like the IAM console's and the
 * warning that it will not be shown again. Once shown, the dialog does not
 * close (Escape, ×, its close button) until the secret was copied or
 * downloaded, or the manager confirms closing without saving it. Closing
 * the dialog removes the secret from the page.
 */
export function openRevealDialog(ctx, resource, n) {
  const banner = h('div', { class: 'banner', role: 'alert', tabindex: '-1', hidden: true });
  const errors = new FormErrors(banner);
  const go = h('button', { type: 'submit', class: 'primary' }, 'Reveal secret');
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  const area = h('div', { class: 'form' });
  let shown = false; // the secret is on the page
  let saved = false; // it was copied or downloaded
  let ask = () => {}; // shows the "Close without saving?" question
  const form = h('form', { class: 'form', novalidate: true }, banner,
    h('p', {}, `The secret access key of key ${n} of user `, h('strong', { class: 'mono' }, resource.name),
      ' can be shown ', h('strong', {}, 'once'), '. Have a password manager or the recipient ready.'),
    h('div', { class: 'form-actions' }, cancel, go));
  area.append(form);
  const dlg = openDialog({
    title: `Reveal secret of access key ${n}`, body: area, initialFocus: () => go,
    canClose: () => {
      if (!shown || saved) return true;
      ask();
      return false;
    },
  });
  cancel.addEventListener('click', () => dlg.close());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    errors.clear();
    go.disabled = true;
    try {
      const pair = await api.revealKey(ctx.project.id, resource.name, n);
      showSecret(pair);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      go.disabled = false;
      if (err.status === 409 && !err.problem.lock) {
        errors.say('warn', h('strong', {}, 'Already revealed. '), err.problem.detail || 'The secret of this key was shown before; rotate the key to get a new secret.');
        go.disabled = true;
        return;
      }
      showProblem(errors, err, ctx);
    }
  });

  function showSecret(pair) {
    const idInput = h('input', { type: 'text', readonly: true, value: pair.access_key_id, class: 'mono secret-field', id: nextId('akid') });
    const secretInput = h('input', { type: 'text', readonly: true, value: pair.secret_access_key, class: 'mono secret-field', id: nextId('secret') });
    const copied = h('p', { class: 'copy-status', role: 'status', 'aria-live': 'polite' });
    const copyButton = (input, what, secret) => h('button', {
      type: 'button', class: 'secondary small',
      onclick: async () => {
        const ok = await copyText(input.value, input);
        if (ok && secret) saved = true;
        copied.textContent = ok ? `${what} copied to the clipboard.` : `Could not copy: select the ${what.toLowerCase()} and copy it yourself.`;
      },
    }, `Copy ${what.toLowerCase()}`);
    const fileName = `${resource.name}_accessKeys.csv`;
    const download = h('button', {
      type: 'button', class: 'secondary', dataset: { action: 'download-csv' },
      onclick: () => {
        downloadText(fileName, accessKeysCSV(pair), 'text/csv');
        saved = true;
        copied.textContent = `Downloaded ${fileName}.`;
      },
    }, 'Download .csv');
    const done = h('button', { type: 'button', class: 'primary', onclick: () => dlg.close() }, 'I have stored it — close');
    const keepOpen = h('button', { type: 'button', class: 'secondary' }, 'Keep it open');
    const closeAnyway = h('button', { type: 'button', class: 'danger', onclick: () => dlg.forceClose() }, 'Close without saving');
    const question = h('div', { class: 'banner banner-error unsaved', role: 'alertdialog', 'aria-label': 'Close without saving?', hidden: true },
      h('p', {}, h('strong', {}, 'Close without saving? '), 'The secret has not been copied or downloaded, and it cannot be shown again: you would have to rotate the key.'),
      h('div', { class: 'form-actions' }, keepOpen, closeAnyway));
    keepOpen.addEventListener('click', () => {
      question.hidden = true;
      secretInput.focus();
    });
    ask = () => {
      question.hidden = false;
      keepOpen.focus();
    };
    shown = true;
    fill(area,
      h('div', { class: 'banner banner-warn', role: 'alert' }, h('strong', {}, 'This secret will not be shown again. '),
        'Store it now. To get a new secret later, rotate the key.'),
      h('div', { class: 'field' }, h('label', { for: idInput.id }, 'Access key id'), h('div', { class: 'copy-row' }, idInput, copyButton(idInput, 'Key id'))),
      h('div', { class: 'field' }, h('label', { for: secretInput.id }, 'Secret access key'), h('div', { class: 'copy-row' }, secretInput, copyButton(secretInput, 'Secret', true))),
      copied,
      question,
      h('div', { class: 'form-actions' }, download, done));
    secretInput.focus();
    secretInput.select();
  }
  return dlg;
}

/**
 * accessKeysCSV is the file the IAM console offers for a new access key: a
 * header row, then the key id and secret, CRLF line ends.
 */
export function accessKeysCSV(pair) {
  return `Access key ID,Secret access key\r\n${pair.access_key_id},${pair.secret_access_key}\r\n`;
}

/** downloadText has the browser save text as a file named name. */
function downloadText(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
