// The recipient's page of a one-time share link (docs/share-links.md).
// Loading it fetches nothing secret. The button POSTs for the ciphertext,
// once; the key that decrypts it is the URL's fragment, which the browser
// never sends: it is read here and used with Web Crypto (AES-256-GCM), the
// link's id as additional data.

const token = decodeURIComponent(location.pathname.replace(/^\/s\//, ''));
const linkID = token.slice(0, 26);
const fragment = location.hash.replace(/^#/, '');

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function b64url(s) {
  const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}

function showError(text) {
  const e = $('error');
  e.textContent = text;
  e.hidden = false;
}

async function decrypt(ciphertext) {
  const key = await crypto.subtle.importKey('raw', b64url(fragment), 'AES-GCM', false, ['decrypt']);
  const bytes = b64url(ciphertext);
  const plain = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: bytes.slice(0, 12), additionalData: new TextEncoder().encode(linkID) },
    key, bytes.slice(12));
  return JSON.parse(new TextDecoder().decode(plain));
}

function copyButton(label, text) {
  const note = el('span', { class: 'copied', 'aria-live': 'polite' });
  const b = el('button', {
    type: 'button',
    'data-copy': label,
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(text);
        note.textContent = 'Copied';
      } catch {
        note.textContent = 'Select the text and copy it';
      }
      setTimeout(() => { note.textContent = ''; }, 3000);
    },
  }, 'Copy', el('span', { class: 'visually-hidden' }, ` ${label}`));
  return el('span', {}, b, ' ', note);
}

function row(label, value, id) {
  return [el('dt', {}, label), el('dd', {}, el('code', { id }, value)), el('dd', {}, copyButton(label, value))];
}

// csvField quotes a field of the IAM console's credentials file when it needs it.
function csvField(v) {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

function render(pkg) {
  const body = $('package-body');
  const parts = [];
  if (pkg.access_key_id) {
    const csv = `Access key ID,Secret access key\r\n${csvField(pkg.access_key_id)},${csvField(pkg.secret_access_key)}\r\n`;
    const href = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
    parts.push(el('h3', {}, 'Access key'),
      el('dl', {},
        row('Access key ID', pkg.access_key_id, 'access-key-id'),
        row('Secret access key', pkg.secret_access_key, 'secret-access-key'),
        row('Region', pkg.region, 'region'),
        row('S3 endpoint', pkg.s3_endpoint, 's3-endpoint')),
      el('div', { class: 'actions' },
        el('a', { class: 'button primary', id: 'download-csv', href, download: `${pkg.user}_accessKeys.csv` }, 'Download .csv')));
  }
  if (pkg.buckets?.length) {
    parts.push(el('h3', {}, 'Buckets'), el('table', {},
      el('thead', {}, el('tr', {}, el('th', {}, 'Bucket and prefix'), el('th', {}, 'Access'), el('th', {}, ''))),
      el('tbody', {}, pkg.buckets.map((b) => el('tr', {},
        el('td', {}, el('code', {}, b.s3_uri)),
        el('td', {}, { read: 'read', write: 'write', readwrite: 'read and write' }[b.access] || b.access),
        el('td', {}, copyButton(`URI ${b.s3_uri}`, b.s3_uri)))))));
  }
  if (pkg.sftp) {
    parts.push(el('h3', {}, 'SFTP'), el('dl', {},
      row('Host', pkg.sftp.host, 'sftp-host'),
      row('User name', pkg.sftp.user, 'sftp-user'),
      [el('dt', {}, 'Home folders'), el('dd', {}, pkg.sftp.home_folders.join(', ')), el('dd', {})],
      [el('dt', {}, 'SSH keys'), el('dd', {}, el('ul', {}, pkg.sftp.ssh_keys.map((k) => el('li', {}, el('code', {}, k))))), el('dd', {})]),
    el('p', { class: 'hint' }, 'Log in with the private key that belongs to one of these public keys.'));
  }
  const examples = [['aws_cli', 'AWS CLI'], ['rclone', 'rclone'], ['sftp', 'SFTP']];
  for (const [k, title] of examples) {
    if (!pkg.examples?.[k]) continue;
    parts.push(el('div', { class: 'example-head' }, el('h3', {}, title), copyButton(`${title} example`, pkg.examples[k])),
      el('pre', { id: `example-${k.replace('_', '-')}`, tabindex: '0' }, pkg.examples[k]));
  }
  body.replaceChildren(...parts.flat());
  $('intro').hidden = true;
  $('package').hidden = false;
  $('package-title').focus();
}

function init() {
  const form = $('reveal-form');
  if (!form) return;
  if (fragment.length !== 43) {
    $('no-key').hidden = false;
    $('reveal').disabled = true;
    return;
  }
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = $('reveal');
    const pass = $('passphrase');
    if (pass && !pass.value) {
      showError('Enter the passphrase.');
      pass.focus();
      return;
    }
    button.disabled = true;
    button.textContent = 'Revealing…';
    let res;
    try {
      res = await fetch(`/s/${encodeURIComponent(token)}/open`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ passphrase: pass ? pass.value : '' }),
        cache: 'no-store',
        credentials: 'omit',
        referrerPolicy: 'no-referrer',
      });
    } catch {
      showError('The server cannot be reached. Check your connection and try again; the link is not used up.');
      button.disabled = false;
      button.textContent = 'Reveal the credentials';
      return;
    }
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      button.textContent = 'Reveal the credentials';
      if (res.status === 410) {
        showError(`This link is no longer valid: ${data.detail || 'it was used, revoked or has expired'}. Ask the sender for a new one.`);
        return;
      }
      button.disabled = false;
      showError(data.detail ? data.detail.charAt(0).toUpperCase() + data.detail.slice(1) + '.' : `The server answered ${res.status}.`);
      if (pass) {
        pass.value = '';
        pass.focus();
      }
      return;
    }
    let pkg;
    try {
      pkg = await decrypt(data.ciphertext);
    } catch {
      showError('The credentials could not be decrypted: the link was changed or is incomplete. The link is now used up; ask the sender for a new one.');
      return;
    }
    // The link is used up: keep its key out of the history and the address bar.
    history.replaceState(null, '', location.pathname);
    render(pkg);
  });
}

init();
