// Client-side validation: a faithful port of the rules of
// internal/core/spec.go (BucketNameProblems, UserNameProblems,
// BucketSpec.Validate, UserSpec.Validate) and of the reference checks of
// internal/engine/service.go, with the same field names and messages, so
// that what the browser says before a request is what the server would say
// after it. Lengths are counted in UTF-8 bytes, as Go's len does.
//
// One exception: SSH public keys. The server parses them with
// golang.org/x/crypto/ssh and is the authority; the browser checks their
// shape and the type inside the blob only (sshKeyProblem), so a key it
// accepts may still be refused by the server (a truncated blob, RSA under
// 2048 bits).
//
// Keep it in step with spec.go: tests/browser/validate.test.mjs runs the
// cases of spec_test.go against this module.

export const EncryptionS3 = 'SSE-S3';
export const EncryptionKMS = 'SSE-KMS';

export const MaxTags = 47;
export const MaxGrants = 10;
export const MaxSSHKeys = 10;
export const MaxExpiryDays = 36500;
export const MaxAccessKeys = 2;
export const MaxPrefixBytes = 512;
export const ReservedTagPrefix = 'bucketdesk:';

const bucketCharsRe = /^[a-z0-9.-]+$/;
const kmsARNRe = /^arn:aws(-[a-z]+)*:kms:[a-z0-9-]+:[0-9]{12}:key\/[A-Za-z0-9-]+$/;
// What the server says of an SSE-KMS key that is not a key ARN (core.KMSKeyARNMessage).
export const KMSKeyARNMessage = 'must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID); an alias cannot be used because it can be moved to another key at any time, which would silently change the key that encrypts new objects';
const tagCharsRe = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const userNameRe = /^[A-Za-z0-9+=.@_-]+$/;
// AWS Transfer Family's user name pattern (core.TransferUserNamePattern).
export const TransferUserNamePattern = '^[\\w][\\w@.-]{2,99}$';
const transferUserNameRe = new RegExp(TransferUserNamePattern);
export const SFTPUserNameMessage = 'SFTP user names must be 3–100 characters of letters, digits, _, @, . and -, not starting with -, . or @';
export const SSHKeyTypes = ['ssh-rsa', 'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521'];
export const MaxSSHKeyComment = 100;
const sshKeyShapeMessage = 'must be an OpenSSH public key (ssh-rsa, ssh-ed25519 or ecdsa-sha2-nistp256/384/521, then the base64 key)';
const sshKeyRe = /^(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/;

const encoder = new TextEncoder();

/** byteLen is Go's len(s): the length of s in UTF-8 bytes. */
export function byteLen(s) {
  return encoder.encode(s).length;
}

/** goQuote formats s as Go's %q (strconv.Quote) does for the strings a form can hold. */
export function goQuote(s) {
  let out = '"';
  for (const ch of String(s)) {
    const c = ch.codePointAt(0);
    switch (ch) {
      case '"': out += '\\"'; continue;
      case '\\': out += '\\\\'; continue;
      case '\x07': out += '\\a'; continue;
      case '\b': out += '\\b'; continue;
      case '\f': out += '\\f'; continue;
      case '\n': out += '\\n'; continue;
      case '\r': out += '\\r'; continue;
      case '\t': out += '\\t'; continue;
      case '\v': out += '\\v'; continue;
    }
    if (c < 0x20 || c === 0x7f) {
      out += '\\x' + c.toString(16).padStart(2, '0');
    } else if (/[\p{C}\p{Zl}\p{Zp}]/u.test(ch) || (/\p{Z}/u.test(ch) && c !== 0x20)) {
      // Not printable for strconv.IsPrint: control, format, unassigned,
      // private use and every space but U+0020.
      out += c > 0xffff ? '\\U' + c.toString(16).padStart(8, '0') : '\\u' + c.toString(16).padStart(4, '0');
    } else {
      out += ch;
    }
  }
  return out + '"';
}

function isLowerAlnum(c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// isIPv4 is core's ipLike: four dot-separated runs of digits, whatever
// their values (AWS refuses 999.999.999.999 and 01.02.03.04 too).
function isIPv4(s) {
  return /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/.test(s);
}

/** bucketNameProblems lists every S3 bucket naming rule name breaks (core.BucketNameProblems). */
export function bucketNameProblems(name) {
  const p = [];
  const n = byteLen(name);
  if (n < 3 || n > 63) {
    p.push(`must be between 3 and 63 characters long, got ${n}`);
  }
  if (name !== '' && !bucketCharsRe.test(name)) {
    p.push('may contain only lowercase letters, digits, dots (.) and hyphens (-)');
  }
  if (name !== '' && (!isLowerAlnum(name[0]) || !isLowerAlnum(name[name.length - 1]))) {
    p.push('must begin and end with a lowercase letter or a digit');
  }
  if (name.includes('..')) {
    p.push('must not contain two adjacent dots');
  }
  if (name.includes('.-') || name.includes('-.')) {
    p.push('must not have a dot next to a hyphen');
  }
  if (isIPv4(name)) {
    p.push('must not be formatted as an IP address');
  }
  for (const pre of ['xn--', 'sthree-', 'amzn-s3-demo-']) {
    if (name.startsWith(pre)) {
      p.push(`must not start with the reserved prefix ${goQuote(pre)}`);
    }
  }
  for (const suf of ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3']) {
    if (name.endsWith(suf)) {
      p.push(`must not end with the reserved suffix ${goQuote(suf)}`);
    }
  }
  return p;
}

/** userNameProblems lists every IAM user naming rule name breaks (core.UserNameProblems). */
export function userNameProblems(name) {
  const p = [];
  const n = byteLen(name);
  if (n < 1 || n > 64) {
    p.push(`must be between 1 and 64 characters long, got ${n}`);
  }
  if (name !== '' && !userNameRe.test(name)) {
    p.push('may contain only letters, digits and the characters + = . @ _ - (IAM also allows a comma, which bucketdesk cannot tag a stack with)');
  }
  return p;
}

/**
 * canonicalPrefix is core.CanonicalPrefix: a grant prefix names a folder,
 * so a non-empty prefix ends in "/" ("reports" is the folder "reports/").
 */
export function canonicalPrefix(p) {
  return p !== '' && !p.endsWith('/') ? p + '/' : p;
}

/**
 * prefixHint describes what a grant prefix the user typed means, for the
 * form to show next to it: '' when it needs no explanation.
 */
export function prefixHint(p) {
  const c = canonicalPrefix(p ?? '');
  if (c === (p ?? '')) return '';
  const base = c.slice(0, -1);
  return `${goQuote(p)} means the folder ${goQuote(c)}: keys such as ${goQuote(base + '-2024/…')} or ${goQuote(base + '.csv')} are not included`;
}

// policyCharOK is IAM's policy document alphabet: tab, LF, CR and
// U+0020 to U+00FF.
function policyCharOK(c) {
  return c === 0x09 || c === 0x0a || c === 0x0d || (c >= 0x20 && c <= 0xff);
}

// strictBase64 decodes s as Go's base64.StdEncoding.Strict() does (padding
// required, zero trailing bits), or returns null.
function strictBase64(s) {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*(={0,2})$/.test(s)) return null;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  if (pad > 0) {
    const last = alphabet.indexOf(s[s.length - pad - 1]);
    if ((pad === 2 && (last & 0x0f) !== 0) || (pad === 1 && (last & 0x03) !== 0)) return null;
  }
  try {
    const bin = atob(s);
    return Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  } catch {
    return null;
  }
}

/**
 * sshKeyProblem mirrors core.SSHKeyProblem as far as a browser can: the
 * shape of the entry (one line, no control characters, no options, an
 * accepted type, base64, a bounded comment) and the key type written
 * inside the base64 blob. The server is the authority: it parses the key
 * with golang.org/x/crypto/ssh and also refuses a blob that is not a
 * valid key of its type and RSA keys under 2048 bits, which this function
 * does not check. Returns '' when the browser finds nothing wrong.
 */
export function sshKeyProblem(key) {
  const k = String(key).trim();
  if (/[\r\n]/.test(k)) {
    return 'must be exactly one key on one line';
  }
  if (/[\x00-\x1f\x7f]/.test(k)) {
    return 'must not contain control characters';
  }
  const f = k.split(/\s+/).filter((x) => x !== '');
  if (f.length > 1 && !SSHKeyTypes.includes(f[0]) && f.slice(1).some((x) => SSHKeyTypes.includes(x))) {
    return 'must not start with options (such as from=… or command=…); give only the key type, the base64 key and an optional comment';
  }
  if (!sshKeyRe.test(k)) {
    return sshKeyShapeMessage;
  }
  const sp = k.indexOf(' ');
  const typ = k.slice(0, sp);
  const rest = k.slice(sp + 1);
  const sp2 = rest.indexOf(' ');
  const b64 = sp2 < 0 ? rest : rest.slice(0, sp2);
  const comment = sp2 < 0 ? '' : rest.slice(sp2 + 1);
  const n = [...comment].length;
  if (n > MaxSSHKeyComment) {
    return `the comment after the key must be at most ${MaxSSHKeyComment} characters, got ${n}`;
  }
  const blob = strictBase64(b64);
  if (blob === null) {
    return 'the key is not valid base64';
  }
  const len = blob.length >= 4 ? ((blob[0] << 24) >>> 0) + (blob[1] << 16) + (blob[2] << 8) + blob[3] : -1;
  if (len < 0 || blob.length - 4 < len || String.fromCharCode(...blob.slice(4, 4 + len)) !== typ) {
    return `the base64 key is not a ${typ} key`;
  }
  return '';
}

class Problems {
  constructor() {
    this.list = [];
  }
  add(field, message) {
    this.list.push({ field, message });
  }
}

function validateTags(v, tags) {
  const keys = Object.keys(tags || {});
  if (keys.length > MaxTags) {
    v.add('tags', `at most ${MaxTags} tags, got ${keys.length}`);
  }
  // Go's sort.Strings orders by bytes; for the characters a tag may hold
  // that is code point order.
  keys.sort((a, b) => {
    const x = [...a].map((c) => c.codePointAt(0));
    const y = [...b].map((c) => c.codePointAt(0));
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      if (x[i] !== y[i]) return x[i] - y[i];
    }
    return x.length - y.length;
  });
  for (const k of keys) {
    const f = 'tags.' + k;
    if (k === '' || byteLen(k) > 128) {
      v.add(f, 'key must be 1 to 128 characters long');
    } else if (k.toLowerCase().startsWith('aws:')) {
      v.add(f, 'key must not start with aws:, which AWS reserves');
    } else if (k.startsWith(ReservedTagPrefix)) {
      v.add(f, `key must not start with ${ReservedTagPrefix}, which bucketdesk reserves`);
    } else if (!tagCharsRe.test(k)) {
      v.add(f, 'key may contain only letters, digits, spaces and _ . : / = + - @');
    }
    const val = tags[k];
    if (byteLen(val) > 256 || !tagCharsRe.test(val)) {
      v.add(f, 'value must be at most 256 characters of letters, digits, spaces and _ . : / = + - @');
    }
  }
}

/**
 * validateBucket checks a BucketSpec as BucketSpec.Validate does and returns
 * its problems as [{field, message}] (empty when valid).
 */
export function validateBucket(b) {
  const v = new Problems();
  for (const m of bucketNameProblems(b.name ?? '')) {
    v.add('name', m);
  }
  const enc = b.encryption || {};
  const type = enc.type ?? '';
  const arn = enc.kms_key_arn ?? '';
  switch (type) {
    case EncryptionS3:
      if (arn !== '') {
        v.add('encryption.kms_key_arn', 'must be empty with SSE-S3');
      }
      break;
    case EncryptionKMS:
      if (!kmsARNRe.test(arn)) {
        v.add('encryption.kms_key_arn', KMSKeyARNMessage);
      }
      break;
    default:
      v.add('encryption.type', `must be ${goQuote(EncryptionS3)} or ${goQuote(EncryptionKMS)}, got ${goQuote(type)}`);
  }
  const days = b.expiry_days ?? 0;
  if (days < 0 || days > MaxExpiryDays) {
    v.add('expiry_days', `must be between 1 and ${MaxExpiryDays} days, or 0 for no expiry`);
  }
  validateTags(v, b.tags);
  return v.list;
}

/**
 * validateUser checks a UserSpec as UserSpec.Validate does. Whether the
 * granted buckets exist is checkUserReferences' job.
 */
export function validateUser(u) {
  const v = new Problems();
  const names = userNameProblems(u.name ?? '');
  for (const m of names) {
    v.add('name', m);
  }
  // The Transfer Family user has the IAM user's name, and Transfer's names
  // are narrower than IAM's.
  if (u.sftp?.enabled && names.length === 0 && !transferUserNameRe.test(u.name ?? '')) {
    v.add('name', SFTPUserNameMessage);
  }
  const grants = u.grants || [];
  if (grants.length > MaxGrants) {
    v.add('grants', `at most ${MaxGrants} grants, got ${grants.length}`);
  }
  const seen = new Map();
  grants.forEach((g, i) => {
    const f = `grants[${i}]`;
    const bucket = g.bucket ?? '';
    const prefix = g.prefix ?? '';
    for (const m of bucketNameProblems(bucket)) {
      v.add(f + '.bucket', m);
    }
    switch (g.access) {
      case 'read':
      case 'write':
      case 'readwrite':
        break;
      default:
        v.add(f + '.access', `must be read, write or readwrite, got ${goQuote(g.access ?? '')}`);
    }
    if (byteLen(canonicalPrefix(prefix)) > MaxPrefixBytes) {
      v.add(f + '.prefix', `must be at most ${MaxPrefixBytes} bytes, counting the / that ends the folder`);
    } else if (prefix.startsWith('/')) {
      v.add(f + '.prefix', 'must not start with /; S3 keys have no leading slash');
    } else if (/[*?$\\"{}\x00\r\n]/.test(prefix)) {
      v.add(f + '.prefix', 'must not contain * ? $ \\ " { } or control characters, which would widen or break the policy');
    } else if ([...prefix].some((ch) => !policyCharOK(ch.codePointAt(0)))) {
      const ch = [...prefix].find((c) => !policyCharOK(c.codePointAt(0)));
      const hex = ch.codePointAt(0).toString(16).toUpperCase().padStart(4, '0');
      v.add(f + '.prefix', `may contain only characters an IAM policy allows (ASCII and Latin-1, U+0020 to U+00FF); ${goQuote(ch)} (U+${hex}) is outside that range`);
    } else if (prefix.includes('//') || prefix.includes('../') || prefix === '..' || prefix.endsWith('/..')) {
      v.add(f + '.prefix', 'must not contain empty or .. path segments');
    }
    // "reports" and "reports/" are the same folder.
    const k = bucket + '\x00' + canonicalPrefix(prefix);
    if (seen.has(k)) {
      v.add(f, `repeats grants[${seen.get(k)}] for the same bucket and folder`);
    }
    seen.set(k, i);
  });
  const keys = u.access_keys ?? 0;
  if (keys < 0 || keys > MaxAccessKeys) {
    v.add('access_keys', `must be 0, 1 or 2, got ${keys}`);
  }
  const serials = u.key_serials || [];
  if (serials.length > MaxAccessKeys) {
    v.add('key_serials', `at most ${MaxAccessKeys} entries`);
  }
  serials.forEach((s, i) => {
    if (s < 0) {
      v.add(`key_serials[${i}]`, 'must not be negative');
    }
  });
  const sftp = u.sftp || {};
  const sshKeys = sftp.ssh_keys || [];
  if (sftp.enabled) {
    if (sshKeys.length === 0) {
      v.add('sftp.ssh_keys', 'at least one SSH public key is needed when SFTP is on');
    }
    if (grants.length === 0) {
      v.add('sftp', 'SFTP needs at least one grant to map a home folder onto');
    }
  } else if (sshKeys.length > 0) {
    v.add('sftp.ssh_keys', 'must be empty when SFTP is off');
  }
  if (sshKeys.length > MaxSSHKeys) {
    v.add('sftp.ssh_keys', `at most ${MaxSSHKeys} keys, got ${sshKeys.length}`);
  }
  // The browser checks the shape; the server parses the key and is the
  // authority (see sshKeyProblem).
  sshKeys.forEach((k, i) => {
    const m = sshKeyProblem(k);
    if (m !== '') {
      v.add(`sftp.ssh_keys[${i}]`, m);
    }
  });
  return v.list;
}

export const MaxAccessDays = 730;

/**
 * accessUntilProblem mirrors core.AccessUntilProblem: what is wrong with a
 * user's end date next (RFC 3339 or '' for none) when it was prev before
 * ('' for a new user or none), at now (a Date), or ''. An unchanged end
 * date is fine even once passed; a new or changed one must be ahead, and
 * at most MaxAccessDays ahead.
 */
export function accessUntilProblem(next, prev, now) {
  if (!next) {
    return '';
  }
  const t = Date.parse(next);
  if (Number.isNaN(t)) {
    return 'must be a date and time';
  }
  if (prev && Date.parse(prev) === t) {
    return '';
  }
  if (t <= now.getTime()) {
    return 'must be in the future';
  }
  if (t > now.getTime() + MaxAccessDays * 24 * 3600 * 1000) {
    return `must be at most ${MaxAccessDays} days from now`;
  }
  return '';
}

/**
 * checkUserReferences mirrors the engine's checkReferences: SFTP needs the
 * project's Transfer server, and every granted bucket must be a live bucket
 * of the project. project is {id, sftp}; buckets is a Set of bucket names.
 */
export function checkUserReferences(u, project, buckets) {
  const v = new Problems();
  if (u.sftp?.enabled && !project.sftp) {
    v.add('sftp.enabled', 'project ' + project.id + ' has no SFTP (Transfer Family) server');
  }
  const names = [];
  (u.grants || []).forEach((g, i) => {
    if (names.includes(g.bucket)) return;
    names.push(g.bucket);
    if (!buckets.has(g.bucket)) {
      v.add(`grants[${i}].bucket`, `${goQuote(g.bucket)} is not a bucket of project ${project.id}`);
    }
  });
  return v.list;
}

/**
 * checkBucketReferences mirrors what the server checks of a bucket spec
 * beyond its fields: a bucket named as the project's server access log
 * bucket would log into itself.
 */
export function checkBucketReferences(b, project) {
  const v = new Problems();
  if (project.log_bucket && b.name === project.log_bucket) {
    v.add('name', `${project.log_bucket} is the server access log bucket of project ${project.id}; a bucket cannot log into itself ` +
      '(every log object written would be logged again), so choose another name');
  }
  return v.list;
}

/**
 * rotateKeyProblem mirrors the engine's rule for rotating access key
 * slot (1 or 2) of a user spec: null when allowed, else the reason.
 */
export function rotateKeyProblem(u, key) {
  const n = u?.access_keys ?? 0;
  const slot = key - 1;
  if (slot < 0 || slot >= n) {
    return `the user has ${n} access keys; there is no key ${slot + 1} to rotate`;
  }
  if (n >= MaxAccessKeys) {
    return `the user has ${n} access keys, IAM's maximum; a key is rotated by making the new one before deleting the old, so reduce the user to one key first`;
  }
  return null;
}
