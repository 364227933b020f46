// The administration page (#/admin), for the portal's administrators only
// (/api/me says admin): every project with its members, a form to register
// or update one, and retiring. The server refuses others (403) whatever
// this page shows.

import { request } from './api.js';
import { fill, h } from './dom.js';

const enc = encodeURIComponent;

export const adminApi = {
  projects: () => request('GET', '/api/admin/projects'),
  register: (p) => request('POST', '/api/admin/projects', { body: p }),
  update: (id, p) => request('PUT', `/api/admin/projects/${enc(id)}`, { body: p }),
  members: (id, change) => request('POST', `/api/admin/projects/${enc(id)}/members`, { body: change }),
  retire: (id) => request('DELETE', `/api/admin/projects/${enc(id)}`),
};

// The form's fields: [name in the API, label, hint].
const FIELDS = [
  ['id', 'Project id', 'Lowercase letters, digits and hyphens; cannot change later.'],
  ['name', 'Name', ''],
  ['account_id', 'AWS account id', '12 digits.'],
  ['region', 'Region', 'Such as eu-west-1.'],
  ['role', 'Role', 'The role bucketdesk assumes in the account: its name or ARN.'],
  ['external_id', 'External id', "The external id the role's trust policy demands."],
  ['transfer_server_id', 'SFTP server id', 'Optional: the Transfer Family server (s-…).'],
  ['sftp_host', 'SFTP host', "Optional: default the server's endpoint."],
  ['log_bucket', 'Log bucket', 'Optional: receives the server access logs of the buckets.'],
  ['members', 'Members', 'User names or group:<name>, separated by commas.'],
];

/**
 * showAdmin renders the administration page into main. ui: setCrumbs,
 * problemText (error → text), isCurrent() (the page is still shown).
 */
export async function showAdmin(main, ui) {
  document.title = 'Administration — bucketdesk';
  ui.setCrumbs(null);
  const h1 = h('h1', { tabindex: '-1' }, 'Administration');
  const note = h('div', { id: 'admin-message', role: 'status', 'aria-live': 'polite' });
  const list = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading projects…'));
  const form = projectForm(ui, note, () => refresh());
  fill(main, h('div', { class: 'page' }, h1,
    h('p', { class: 'muted' }, 'Register projects and their accounts, manage who is a member, retire projects. Members see a project the next time they load their list.'),
    note,
    h('section', { class: 'panel', 'aria-labelledby': 'admin-projects-title' }, h('h2', { id: 'admin-projects-title' }, 'Projects'), list),
    h('section', { class: 'panel', 'aria-labelledby': 'project-form-title' }, form.el)));
  h1.focus({ preventScroll: true });

  async function refresh() {
    let items;
    try {
      items = (await adminApi.projects()).items || [];
    } catch (err) {
      if (err.status === 401 || !ui.isCurrent()) return;
      fill(list, h('p', { class: 'banner banner-error' }, err.status === 403 ? 'Only administrators may see this page.' : ui.problemText(err)));
      return;
    }
    if (!ui.isCurrent()) return;
    list.removeAttribute('aria-busy');
    fill(list, h('div', { class: 'table-wrap' }, h('table', { class: 'data', id: 'admin-projects' },
      h('thead', {}, h('tr', {}, ['Project', 'Account', 'Members', 'State'].map((t) => h('th', { scope: 'col' }, t)),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      h('tbody', {}, items.length === 0
        ? h('tr', { class: 'empty' }, h('td', { colspan: 5 }, 'No project is registered yet.'))
        : items.map((p) => projectRow(p))))));
  }

  function projectRow(p) {
    const add = h('input', { type: 'text', 'aria-label': `Add a member to ${p.id}`, placeholder: 'user or group:name', size: 14, disabled: p.retired });
    const addMember = async (e) => {
      e.preventDefault();
      const m = add.value.trim();
      if (!m) return;
      await change(`Added ${m} to ${p.id}.`, () => adminApi.members(p.id, { add: [m] }));
    };
    return h('tr', { 'data-project': p.id, 'data-retired': p.retired ? 'true' : null },
      h('th', { scope: 'row' }, h('div', {}, p.name), h('code', {}, p.id)),
      h('td', {}, h('code', {}, p.account_id), h('div', { class: 'muted' }, p.region)),
      h('td', {},
        h('ul', { class: 'member-list' }, (p.members || []).map((m) => h('li', { 'data-member': m },
          h('span', {}, m), ' ',
          p.retired ? null : h('button', {
            type: 'button', class: 'link small', 'aria-label': `Remove ${m} from ${p.id}`,
            onclick: () => change(`Removed ${m} from ${p.id}.`, () => adminApi.members(p.id, { remove: [m] })),
          }, 'Remove')))),
        p.retired ? null : h('form', { class: 'inline-form', onsubmit: addMember }, add, ' ', h('button', { type: 'submit', class: 'secondary small' }, 'Add'))),
      h('td', {}, p.retired ? 'Retired' : 'Active'),
      h('td', { class: 'actions' }, p.retired ? null : h('div', { class: 'button-row' },
        h('button', { type: 'button', class: 'secondary small', 'aria-label': `Edit ${p.id}`, onclick: () => form.edit(p) }, 'Edit'),
        h('button', {
          type: 'button', class: 'danger small', 'aria-label': `Retire ${p.id}`,
          onclick: () => {
            if (!window.confirm(`Retire project ${p.id}? Its members lose it at once; its stacks stay in account ${p.account_id} untouched.`)) return;
            change(`Retired ${p.id}.`, () => adminApi.retire(p.id));
          },
        }, 'Retire'))));
  }

  async function change(done, call) {
    try {
      await call();
      say(note, 'info', done);
    } catch (err) {
      if (err.status === 401) return;
      say(note, 'error', ui.problemText(err), err.problem?.errors);
    }
    await refresh();
  }

  await refresh();
}

function say(el, kind, text, errors) {
  el.className = `banner banner-${kind}`;
  if (errors?.length) {
    fill(el, 'The request was refused:', h('ul', {}, errors.map((e) => h('li', {}, `${e.field}: ${e.message}`))));
    return;
  }
  fill(el, text);
}

/** projectForm is the register / update form. */
function projectForm(ui, note, changed) {
  const inputs = {};
  const title = h('h2', { id: 'project-form-title' }, 'Register a project');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Register project');
  const cancel = h('button', { type: 'button', class: 'secondary', hidden: true, onclick: () => reset() }, 'Cancel');
  let editing = null;
  const el = h('form', { id: 'project-form', class: 'form-grid', novalidate: true }, title,
    FIELDS.map(([name, label, hint]) => {
      const id = `project-${name.replace(/_/g, '-')}`;
      inputs[name] = h('input', { type: 'text', id, name, spellcheck: 'false', autocapitalize: 'none', 'aria-describedby': hint ? `${id}-hint` : null });
      return h('div', { class: 'field' }, h('label', { for: id }, label), inputs[name], hint ? h('small', { id: `${id}-hint`, class: 'muted' }, hint) : null);
    }),
    h('div', { class: 'button-row' }, submit, cancel));

  function values() {
    const v = {};
    for (const [name] of FIELDS) v[name] = inputs[name].value.trim();
    v.members = v.members ? v.members.split(',').map((m) => m.trim()).filter(Boolean) : [];
    for (const k of ['transfer_server_id', 'sftp_host', 'log_bucket']) if (!v[k]) delete v[k];
    return v;
  }

  function reset() {
    editing = null;
    el.reset();
    inputs.id.disabled = false;
    fill(title, 'Register a project');
    submit.textContent = 'Register project';
    cancel.hidden = true;
  }

  el.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = values();
    submit.disabled = true;
    try {
      if (editing) {
        await adminApi.update(editing, v);
        say(note, 'info', `Updated ${editing}.`);
      } else {
        await adminApi.register(v);
        say(note, 'info', `Registered ${v.id}; the reconciler adopts the stacks already in its account.`);
      }
      reset();
      await changed();
    } catch (err) {
      if (err.status === 401) return;
      say(note, 'error', ui.problemText(err), err.problem?.errors);
      note.scrollIntoView?.({ block: 'nearest' });
    } finally {
      submit.disabled = false;
    }
  });

  return {
    el,
    edit(p) {
      editing = p.id;
      for (const [name] of FIELDS) inputs[name].value = name === 'members' ? (p.members || []).join(', ') : name === 'role' ? p.role_arn || '' : p[name] || '';
      inputs.id.disabled = true;
      fill(title, `Update ${p.id}`);
      submit.textContent = 'Save changes';
      cancel.hidden = false;
      inputs.name.focus();
    },
  };
}
