// The detail view of a bucket or user: every identifier a manager hands
// on or looks up (ARN, stack, S3 URI and endpoint, key ids, SFTP host and
// home folders), each with a copy button, and who created and last changed
// it. It follows live updates of the resource while open. Also the
// remaining time of a user's access, shown on its row.

import { api } from './api.js';
import { openDialog } from './dialog.js';
import { copyText, dateTime, fill, h } from './dom.js';
import { isRow, versioningLabel } from './resources.js';

/** partition returns the ARN partition of a region, as core.Partition. */
export function partition(region) {
  if (region?.startsWith('cn-')) return 'aws-cn';
  if (region?.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

/** dnsSuffix is the domain of a partition's endpoints. */
function dnsSuffix(region) {
  return partition(region) === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com';
}

// The endpoint is text to copy, never loaded: the UI loads nothing from
// the network, and embed_test.go refuses a URL literal in its files.
const httpsScheme = 'https:';

/** s3Endpoint is a bucket's virtual-hosted-style HTTPS endpoint. */
export function s3Endpoint(bucket, region) {
  return `${httpsScheme}//${bucket}.s3.${region}.${dnsSuffix(region)}`;
}

/** sftpHost is the endpoint of a Transfer Family server. */
export function sftpHost(serverId, region) {
  return `${serverId}.server.transfer.${region}.${dnsSuffix(region)}`;
}

/**
 * homeFolders are a user's SFTP home folders as the template maps them
 * (stacks.homeMappings): one per granted bucket or prefix; a prefix of a
 * bucket granted whole has none of its own.
 */
export function homeFolders(grants) {
  const whole = new Set((grants || []).filter((g) => !g.prefix).map((g) => g.bucket));
  const out = [];
  // In the template's order: by bucket, then folder (stacks.Canonical).
  const key = (g) => [g.bucket, (g.prefix || '').replace(/([^/])$/, '$1/')];
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  const sorted = [...(grants || [])].sort((a, b) => cmp(key(a)[0], key(b)[0]) || cmp(key(a)[1], key(b)[1]));
  for (const g of sorted) {
    if (g.prefix && whole.has(g.bucket)) continue;
    let p = '/' + g.bucket;
    const pre = (g.prefix || '').replace(/\/+$/, '');
    if (pre) p += '/' + pre;
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/** age says how long ago t was, coarsely: "3 days", "5 hours", "12 minutes". */
export function age(t, now = new Date()) {
  const ms = now.getTime() - new Date(t).getTime();
  if (Number.isNaN(ms)) return '';
  return span(Math.max(ms, 0));
}

function span(ms) {
  const min = Math.floor(ms / 60000);
  if (min < 60) return `${min} minute${min === 1 ? '' : 's'}`;
  const hours = Math.floor(min / 60);
  if (hours < 48) return `${hours} hour${hours === 1 ? '' : 's'}`;
  const days = Math.floor(hours / 24);
  return `${days} day${days === 1 ? '' : 's'}`;
}

/**
 * accessState describes a user's end date at now: null without one;
 * else {expired, text} where text is "ends in 3 days" or "expired", and
 * expired is true once the end date has passed (the server then makes the
 * keys Inactive; spec.expired says it did).
 */
export function accessState(u, now = new Date()) {
  if (!u?.access_until) return null;
  const ms = new Date(u.access_until).getTime() - now.getTime();
  if (u.expired || ms <= 0) return { expired: true, text: 'expired' };
  return { expired: false, text: `ends in ${span(ms)}` };
}

/** accessBadge is the row's note of a user's end date, or null. */
export function accessBadge(u) {
  const s = accessState(u);
  if (!s) return null;
  return h('span', {
    class: ['pill', s.expired ? 'pill-expired' : 'pill-ends'], dataset: { access: s.expired ? 'expired' : 'ends' },
    title: `Access ends ${dateTime(u.access_until)}`,
  }, s.text);
}

let copySeq = 0;

/** copyable shows a value with a button that copies it. */
function copyable(label, value) {
  if (!value) return h('span', { class: 'muted' }, '—');
  const id = `copy-${++copySeq}`;
  const out = h('input', { type: 'text', readonly: true, value, class: 'mono copy-value', id, 'aria-label': label });
  const status = h('span', { class: 'copy-status', role: 'status' });
  const button = h('button', {
    type: 'button', class: 'secondary small copy', dataset: { copy: label }, 'aria-describedby': id,
    onclick: async () => {
      const ok = await copyText(value, out);
      status.textContent = ok ? 'Copied' : 'Select and copy it';
      setTimeout(() => { status.textContent = ''; }, 2000);
    },
  }, 'Copy', h('span', { class: 'visually-hidden' }, ` ${label}`));
  return h('span', { class: 'copy-row' }, out, button, status);
}

function row(label, ...value) {
  return [h('dt', {}, label), h('dd', { dataset: { field: label } }, ...value)];
}

function who(by, at) {
  if (!by) return h('span', { class: 'muted' }, 'Not recorded (adopted stack)');
  return [h('span', { class: 'mono' }, by), at ? ` · ${dateTime(at)}` : null];
}

function common(r, project) {
  const o = r.observed || {};
  return [
    row('Region', copyable('Region', project.region)),
    row('Stack name', copyable('Stack name', r.stack_name)),
    row('Stack ID', copyable('Stack ID', o.stack_id)),
    row('Stack status', h('span', { class: 'mono' }, o.stack_status || o.phase || '—')),
    row('Created', who(r.created_by, r.created_at)),
    row('Last changed', who(r.changed_by, r.changed_at)),
  ];
}

function bucketBody(r, project) {
  const b = r.spec?.bucket || {};
  const arn = r.observed?.outputs?.BucketArn || `arn:${partition(project.region)}:s3:::${r.name}`;
  const lifecycle = ['Incomplete multipart uploads aborted after 7 days'];
  if (b.expiry_days) lifecycle.push(`Objects expire after ${b.expiry_days} day${b.expiry_days === 1 ? '' : 's'}` + (b.versioning || b.versioning_suspended ? ' (noncurrent versions too; expired delete markers removed)' : ''));
  return h('dl', { class: 'details' },
    row('ARN', copyable('ARN', arn)),
    row('S3 URI', copyable('S3 URI', `s3://${r.name}`)),
    row('Endpoint', copyable('Endpoint', s3Endpoint(r.name, project.region))),
    ...common(r, project),
    row('Encryption', b.encryption?.type === 'SSE-KMS' ? ['SSE-KMS ', copyable('KMS key ARN', b.encryption.kms_key_arn)] : 'SSE-S3 (S3-managed keys)'),
    row('Versioning', versioningLabel(b)),
    row('Lifecycle', h('ul', { class: 'plain' }, lifecycle.map((l) => h('li', {}, l)))),
    project.log_bucket ? row('Access logs', copyable('Access logs', `s3://${project.log_bucket}/${r.name}/`)) : null);
}

const accessLabels = { read: 'read', write: 'write', readwrite: 'read & write' };

function userBody(r, project) {
  const u = r.spec?.user || {};
  const out = r.observed?.outputs || {};
  const state = accessState(u);
  const keys = [];
  for (let k = 1; k <= (u.access_keys || 0); k++) {
    const id = out[`AccessKey${k}Id`];
    const made = id && r.keys_created?.[id];
    keys.push(h('li', { class: 'detail-key', dataset: { key: String(k) } },
      h('span', { class: 'key-label' }, `Key ${k} `), copyable(`Access key ${k} ID`, id),
      h('span', { class: 'sub' }, u.expired ? 'Inactive · ' : 'Active · ', made ? `created ${dateTime(made)} (${age(made)} old)` : 'creation time not recorded')));
  }
  const serverId = out.SftpServerId;
  return h('dl', { class: 'details' },
    row('ARN', copyable('ARN', out.UserArn)),
    row('User name', copyable('User name', r.name)),
    ...common(r, project),
    row('Access ends', u.access_until ? [dateTime(u.access_until), ' ', h('span', { class: ['pill', state?.expired ? 'pill-expired' : 'pill-ends'] }, state?.text)] : 'Never'),
    row('Access keys', keys.length ? h('ul', { class: 'plain' }, keys) : h('span', { class: 'muted' }, 'None')),
    row('Grants', (u.grants || []).length ? h('ul', { class: 'plain' }, u.grants.map((g) => h('li', {},
      copyable(`Grant ${g.bucket}/${g.prefix || ''}`, `s3://${g.bucket}/${g.prefix || ''}`), ' ', accessLabels[g.access] || g.access))) : h('span', { class: 'muted' }, 'None')),
    row('SFTP', !u.sftp?.enabled ? 'Off'
      : u.expired ? 'Off while the access is expired (settings kept)'
        : !serverId ? h('span', { class: 'muted' }, 'Being set up…')
          : h('div', {},
            h('div', {}, 'Host ', copyable('SFTP host', sftpHost(serverId, project.region))),
            h('div', {}, 'User ', copyable('SFTP user', out.SftpUserName || r.name)),
            h('div', {}, `${(u.sftp.ssh_keys || []).length} SSH key(s)`),
            h('ul', { class: 'plain home-folders' }, homeFolders(u.grants).map((f) => h('li', {}, copyable(`Home folder ${f}`, f)))))));
}

/**
 * wholeResource returns the whole resource (kind, name) of ctx's store:
 * when the store holds only its list row (docs/api.md, "A list item"), it
 * reads it (GET) and puts it in the store, where it takes the row's place.
 * If the read fails, it returns what the store holds (null if nothing).
 */
export async function wholeResource(ctx, kind, name) {
  const cur = ctx.store.get(kind, name);
  if (cur && !isRow(cur)) return cur;
  try {
    const r = await api.get(ctx.project.id, kind, name);
    ctx.store.put(r);
  } catch {
    // What the store holds: the row shows all but the details.
  }
  return ctx.store.get(kind, name) || cur;
}

/**
 * openDetailsDialog shows the details of resource r (ctx: project, store,
 * watch) and keeps them current while open. It opens at once with what
 * the store holds; a list row there is read whole (wholeResource), and
 * again when a newer row replaces it (a list read after a reconnect),
 * while the dialog keeps showing the details it has. When a row cannot
 * be read whole, the dialog shows the row.
 */
export function openDetailsDialog(ctx, r) {
  const body = h('div', { class: 'details-body', dataset: { kind: r.kind, name: r.name } });
  let shown = r;
  let reading = 0; // the version of the row being read whole
  const render = () => {
    const cur = ctx.store.get(r.kind, r.name);
    if (cur && isRow(cur)) {
      if (reading !== cur.version) {
        reading = cur.version;
        wholeResource(ctx, r.kind, r.name).then((w) => {
          if (!body.isConnected) return; // closed meanwhile
          if (!w || isRow(w)) shown = w || cur; // not read whole: show the row
          render();
        });
      }
      if (!isRow(shown)) return;
    }
    shown = cur || shown;
    fill(body, shown.kind === 'bucket' ? bucketBody(shown, ctx.project) : userBody(shown, ctx.project));
  };
  render();
  const stop = ctx.watch(() => {
    if (body.isConnected && !body.contains(document.activeElement)) render();
  });
  return openDialog({ title: `${r.kind === 'bucket' ? 'Bucket' : 'User'} ${r.name}`, body, wide: true, onClose: stop });
}
