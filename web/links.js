// One-time share links (docs/share-links.md): a dialog per managed user
// that makes a link for one of its access keys (and/or its SFTP details),
// shows the link's URL once, and lists the user's links with their state,
// kept live by the "share_link" messages of the real-time protocol.

import { ApiError, request } from './api.js';
import { openDialog } from './dialog.js';
import { copyText, dateTime, fill, h } from './dom.js';

const enc = encodeURIComponent;
const linksPath = (p, user) => `/api/projects/${enc(p)}/users/${enc(user)}/links`;

export const linksApi = {
  list: (p, user) => request('GET', linksPath(p, user)),
  create: (p, user, body) => request('POST', linksPath(p, user), { body }),
  revoke: (p, user, id) => request('POST', `${linksPath(p, user)}/${enc(id)}/revoke`),
};

const stateLabels = {
  created: 'Not opened yet',
  opened: 'Opened',
  revealed: 'Used',
  expired: 'Expired',
  revoked: 'Revoked',
  locked: 'Locked (wrong passphrases)',
};

const expiries = [['3600', '1 hour'], ['86400', '24 hours'], ['259200', '3 days'], ['604800', '7 days']];

// The dialog that is open, if any: {project, user, refresh}.
let current = null;

/** onLinkMessage refreshes the open dialog's list when one of its user's links changed. */
export function onLinkMessage(msg) {
  if (current && msg.project === current.project && msg.name === current.user) current.refresh();
}

let seq = 0;

/** openLinksDialog shows the share links of managed user r of the current project. */
export function openLinksDialog(ctx, r) {
  const project = ctx.project.id;
  const u = r.spec?.user || {};
  const outputs = r.observed?.outputs || {};
  const id = (s) => `links-${++seq}-${s}`;

  const keyIds = [1, 2].filter((k) => k <= (u.access_keys || 0) && outputs[`AccessKey${k}Id`]);
  const sftpOn = Boolean(u.sftp?.enabled && outputs.SftpUserName);
  const keySel = h('select', { id: id('key'), name: 'key' },
    keyIds.map((k) => h('option', { value: String(k) }, `Key ${k} (${outputs[`AccessKey${k}Id`]})`)),
    sftpOn ? h('option', { value: '0' }, 'No access key (SFTP only)') : null);
  const sftp = h('input', { type: 'checkbox', id: id('sftp'), name: 'sftp', checked: sftpOn, disabled: !sftpOn });
  const expiry = h('select', { id: id('expiry'), name: 'expiry' }, expiries.map(([v, t]) => h('option', { value: v, selected: v === '86400' }, t)));
  const passHint = id('pass-hint');
  const pass = h('input', { type: 'text', id: id('passphrase'), name: 'passphrase', autocomplete: 'off', maxlength: '72', spellcheck: 'false', 'aria-describedby': passHint });
  const withhold = h('input', { type: 'checkbox', id: id('withhold'), name: 'withhold', checked: true });
  const msg = h('div', { class: 'banner', role: 'alert', hidden: true });
  const create = h('button', { type: 'submit', class: 'primary', id: 'create-link' }, 'Create link');
  const result = h('div', { class: 'link-result' });
  const noKeys = keyIds.length === 0 && !sftpOn;
  const form = h('form', { class: 'form', novalidate: true },
    h('p', {}, 'Make a one-time link that hands ', h('strong', { class: 'mono' }, r.name),
      '’s credentials to someone outside: they open it without signing in, once. The server keeps only what cannot decrypt it.'),
    msg,
    noKeys ? h('p', { class: 'banner banner-warn' }, 'This user has no access key and no SFTP access yet.') : null,
    h('div', { class: 'field' }, h('label', { for: keySel.id }, 'Access key'), keySel),
    h('div', { class: 'field field-check' }, sftp, h('label', { for: sftp.id }, 'Include the SFTP details', sftpOn ? '' : ' (SFTP is off for this user)')),
    h('div', { class: 'field' }, h('label', { for: expiry.id }, 'Expires after'), expiry),
    h('div', { class: 'field' }, h('label', { for: pass.id }, 'Passphrase (optional)'),
      h('p', { class: 'hint', id: passHint }, 'Tell it to the recipient by another channel, such as a call.'), pass),
    h('div', { class: 'field field-check' }, withhold, h('label', { for: withhold.id }, 'I don’t need to see the secret'),
      h('p', { class: 'hint' }, 'The key is marked revealed now, so nobody here can see its secret: the link is the only way it leaves the secret store.')),
    h('div', { class: 'form-actions' }, create));
  if (noKeys) create.disabled = true;
  const listBody = h('tbody');
  const area = h('div', {}, form, result,
    h('h3', {}, 'Links of this user'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'data', id: 'links-table' },
      h('thead', {}, h('tr', {}, ['Created', 'Key', 'Expires', 'State', ''].map((t) => h('th', { scope: 'col' }, t)))),
      listBody)));

  const say = (kind, ...text) => {
    msg.className = `banner banner-${kind}`;
    fill(msg, ...text);
    msg.hidden = false;
  };

  async function refresh() {
    let res;
    try {
      res = await linksApi.list(project, r.name);
    } catch (err) {
      if (err instanceof ApiError) say('error', 'Could not load the links: ', err.problem.detail || err.message);
      return;
    }
    const items = res.items || [];
    fill(listBody, items.length ? items.map(linkRow) : h('tr', { class: 'empty' }, h('td', { colspan: '5' }, 'No links yet.')));
  }

  function linkRow(l) {
    const live = l.state === 'created' || l.state === 'opened';
    const seen = l.revealed || l.opened;
    return h('tr', { dataset: { linkId: l.id, state: l.state } },
      h('td', {}, dateTime(l.created_at), h('span', { class: 'sub' }, ` by ${l.created_by}`)),
      h('td', {}, l.key ? `Key ${l.key}` : '', l.sftp ? (l.key ? ' + SFTP' : 'SFTP') : '',
        l.withheld ? h('span', { class: 'pill' }, 'secret never shown') : null,
        l.passphrase ? h('span', { class: 'pill' }, 'passphrase') : null),
      h('td', {}, dateTime(l.expires_at)),
      h('td', { class: 'link-state' }, h('strong', {}, stateLabels[l.state] || l.state),
        seen ? h('p', { class: 'sub' }, `${l.revealed ? 'Used' : 'Opened'} ${dateTime(seen.at)} from ${seen.source_ip || 'an unknown address'}`,
          seen.user_agent ? h('span', { class: 'mono ua' }, ` — ${seen.user_agent}`) : null) : null,
        l.passphrase_failures ? h('p', { class: 'sub' }, `${l.passphrase_failures} wrong passphrase${l.passphrase_failures === 1 ? '' : 's'}`) : null,
        l.state === 'revoked' && l.ended_by ? h('p', { class: 'sub' }, `by ${l.ended_by}`) : null),
      h('td', {}, live ? h('button', {
        type: 'button', class: 'danger-outline small', dataset: { action: 'revoke' },
        onclick: async (e) => {
          e.currentTarget.disabled = true;
          try {
            await linksApi.revoke(project, r.name, l.id);
          } catch (err) {
            if (err instanceof ApiError) say('error', 'Could not revoke: ', err.problem.detail || err.message);
          }
          refresh();
        },
      }, 'Revoke', h('span', { class: 'visually-hidden' }, ` the link made ${dateTime(l.created_at)}`)) : null));
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    msg.hidden = true;
    const key = Number(keySel.value);
    const body = { key, sftp: sftp.checked, expires_in_s: Number(expiry.value), withhold_secret: key > 0 && withhold.checked };
    if (pass.value) body.passphrase = pass.value;
    create.disabled = true;
    let res;
    try {
      res = await linksApi.create(project, r.name, body);
    } catch (err) {
      create.disabled = false;
      if (!(err instanceof ApiError)) throw err;
      say(err.status === 409 ? 'warn' : 'error', err.problem.detail || err.message);
      return;
    }
    create.disabled = false;
    pass.value = '';
    const url = location.origin + res.url;
    const input = h('input', { type: 'text', readonly: true, value: url, class: 'mono secret-field', id: 'link-url', 'aria-label': 'The link' });
    const status = h('p', { class: 'copy-status', role: 'status', 'aria-live': 'polite' });
    fill(result,
      h('div', { class: 'banner banner-warn', role: 'alert' }, h('strong', {}, 'This link is shown once. '),
        'Copy it now and send it to the recipient; anyone who has it can use it, once, until it expires.'),
      h('div', { class: 'copy-row' }, input, h('button', {
        type: 'button', class: 'secondary small', id: 'copy-link',
        onclick: async () => {
          status.textContent = (await copyText(input.value, input)) ? 'Link copied to the clipboard.' : 'Select the link and copy it yourself.';
        },
      }, 'Copy link')),
      status);
    input.focus();
    input.select();
    refresh();
  });

  current = { project, user: r.name, refresh };
  openDialog({
    title: `Share links of ${r.name}`, body: area, wide: true,
    onClose: () => {
      if (current?.refresh === refresh) current = null;
    },
  });
  refresh();
}
