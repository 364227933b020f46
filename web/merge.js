// Field-by-field comparison and three-way merge of bucket and user specs,
// for a form whose resource changed on the server while it was open (a
// 412 on save, a live update, a draft restored on a newer version): what
// changed on the server (diffSpecs), and the manager's own changes laid on
// the server's new version (mergeSpecs). Pure functions, no DOM.

/**
 * normalizeSpec puts a spec of kind ("bucket" or "user") in the shape the
 * forms send, so that a spec read from the server and the one a form
 * collects compare equal when nothing was changed: absent and empty or
 * zero values alike, server-reported fields left out.
 */
export function normalizeSpec(kind, spec) {
  const s = spec || {};
  if (kind === 'bucket') {
    const out = { name: s.name || '', versioning: Boolean(s.versioning), encryption: { type: s.encryption?.type || 'SSE-S3' } };
    if (out.encryption.type === 'SSE-KMS') out.encryption.kms_key_arn = (s.encryption?.kms_key_arn || '').trim();
    if (s.expiry_days) out.expiry_days = s.expiry_days;
    if (s.tags && Object.keys(s.tags).length) out.tags = { ...s.tags };
    return out;
  }
  const out = {
    name: s.name || '',
    grants: (s.grants || []).map((g) => (g.prefix ? { bucket: g.bucket, access: g.access, prefix: g.prefix } : { bucket: g.bucket, access: g.access })),
    access_keys: Number(s.access_keys ?? 0),
    sftp: { enabled: Boolean(s.sftp?.enabled) },
  };
  if (s.access_until && !String(s.access_until).startsWith('0001-')) out.access_until = s.access_until;
  if (s.key_serials?.length) out.key_serials = [...s.key_serials];
  if (out.sftp.enabled && s.sftp?.ssh_keys?.length) out.sftp.ssh_keys = [...s.sftp.ssh_keys];
  return out;
}

// Fields the server manages: a merge always takes the server's.
const serverOwned = new Set(['name', 'key_serials']);

// Objects are compared field by field (a tag is a field of its own);
// lists and scalars as a whole (the grants, the SSH keys).
function flatten(value, path = [], out = new Map()) {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const k of Object.keys(value)) flatten(value[k], [...path, k], out);
  } else if (value !== undefined) {
    out.set(JSON.stringify(path), value);
  }
  return out;
}

function unflatten(map) {
  const out = {};
  for (const [key, value] of map) {
    const path = JSON.parse(key);
    let o = out;
    for (const p of path.slice(0, -1)) o = o[p] ??= {};
    o[path.at(-1)] = value;
  }
  return out;
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

const labels = {
  versioning: 'Versioning',
  'encryption.type': 'Encryption',
  'encryption.kms_key_arn': 'KMS key ARN',
  expiry_days: 'Expire objects after (days)',
  access_keys: 'Access keys',
  grants: 'Bucket access',
  'sftp.enabled': 'SFTP access',
  'sftp.ssh_keys': 'SSH public keys',
  access_until: 'Access ends',
  key_serials: 'Access key rotations',
  name: 'Name',
};

/** fieldLabel names a field path (a list of keys) for people: ["tags", "env"] is "Tag env". */
export function fieldLabel(path) {
  if (path[0] === 'tags' && path.length === 2) return `Tag ${path[1]}`;
  return labels[path.join('.')] || path.join('.');
}

/**
 * showValue writes a field's value for people: "on"/"off", "(none)" for
 * an absent value, a grant list as "bucket: access prefix, …".
 */
export function showValue(path, v) {
  if (v === undefined || v === null || v === '') return '(none)';
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  if (path[0] === 'grants' && Array.isArray(v)) {
    return v.length ? v.map((g) => `${g.bucket}: ${g.access}${g.prefix ? ` ${g.prefix}` : ''}`).join(', ') : '(none)';
  }
  if (Array.isArray(v)) return v.length ? v.join(', ') : '(none)';
  return String(v);
}

/**
 * diffSpecs lists the fields that differ between two specs of one kind,
 * as {path, label, from, to} (from/to undefined when absent), in a stable
 * order: the fields of a, then those only in b.
 */
export function diffSpecs(kind, a, b) {
  const fa = flatten(normalizeSpec(kind, a));
  const fb = flatten(normalizeSpec(kind, b));
  const keys = [...new Set([...fa.keys(), ...fb.keys()])];
  const out = [];
  for (const k of keys) {
    const from = fa.get(k);
    const to = fb.get(k);
    if (same(from, to)) continue;
    const path = JSON.parse(k);
    out.push({ path, label: fieldLabel(path), from, to });
  }
  return out;
}

/**
 * mergeSpecs lays the manager's changes (mine against base, the version
 * the form was opened on) on theirs (the server's current version): a
 * field the manager changed keeps the manager's value, every other field
 * takes the server's. It returns {spec, mine, conflicts}: the merged spec,
 * the fields kept from the manager, and those of them the server changed
 * too (to another value), which the manager should look at again.
 */
export function mergeSpecs(kind, base, mine, theirs) {
  const fBase = flatten(normalizeSpec(kind, base));
  const fMine = flatten(normalizeSpec(kind, mine));
  const fTheirs = flatten(normalizeSpec(kind, theirs));
  const out = new Map(fTheirs);
  const kept = [];
  const conflicts = [];
  for (const k of new Set([...fBase.keys(), ...fMine.keys()])) {
    const path = JSON.parse(k);
    if (serverOwned.has(path[0])) continue;
    const b = fBase.get(k);
    const m = fMine.get(k);
    if (same(b, m)) continue; // not the manager's change
    const t = fTheirs.get(k);
    if (m === undefined) out.delete(k);
    else out.set(k, m);
    kept.push({ path, label: fieldLabel(path), value: m });
    if (!same(t, b) && !same(t, m)) conflicts.push({ path, label: fieldLabel(path), mine: m, theirs: t });
  }
  const spec = normalizeSpec(kind, unflatten(out));
  // A KMS key ARN only goes with SSE-KMS, whoever chose the type.
  if (kind === 'bucket' && spec.encryption.type !== 'SSE-KMS') delete spec.encryption.kms_key_arn;
  return { spec, mine: kept, conflicts };
}

/** changedFields lists the fields of mine that differ from base: the manager's own changes. */
export function changedFields(kind, base, mine) {
  return diffSpecs(kind, base, mine);
}
