// Operation progress panels: after a write is accepted (202), its stack
// events stream in (event messages matched by client_request_token, the
// operation id), then its result or the reason it failed.

import { api } from './api.js';
import { clock, domId, fill, h } from './dom.js';

const MAX_PANELS = 6;

const verbs = {
  create: ['Creating', 'created'],
  update: ['Updating', 'updated'],
  delete: ['Deleting', 'deleted'],
  'rotate-key': ['Rotating an access key of', 'access key rotated'],
};

/** actionTitle is "Creating bucket data-eu" and the like. */
export function actionTitle(op) {
  const [ing] = verbs[op.action] || [op.action];
  return `${ing} ${op.kind} ${op.name}`;
}

function statusClass(s) {
  if (!s) return '';
  if (s.endsWith('_FAILED') || s === 'ROLLBACK_COMPLETE') return 'st-bad';
  if (s.includes('ROLLBACK')) return 'st-warn';
  if (s.endsWith('_IN_PROGRESS')) return 'st-progress';
  return 'st-good';
}

class Panel {
  constructor(op, onDismiss) {
    this.op = op;
    this.events = new Map(); // event_id → event
    this.arrival = 0;
    this.lastStatusText = '';
    this.shown = []; // event ids in the order the log shows them
    this.queued = false;
    const id = domId('op', op.id);
    this.heading = h('h3', { id: id + '-title' });
    this.status = h('p', { class: 'op-status', role: 'status', 'aria-live': 'polite', id: id + '-status' });
    this.log = h('ol', { class: 'op-events', role: 'log', 'aria-label': 'Stack events', 'aria-live': 'off' });
    this.result = h('div', { class: 'op-result' });
    this.dismiss = h('button', {
      type: 'button', class: 'icon-button', 'aria-label': 'Dismiss this progress panel', title: 'Dismiss',
      onclick: () => onDismiss(this),
    }, '×');
    this.el = h('section', { class: 'op-panel', 'aria-labelledby': id + '-title', dataset: { operation: op.id } },
      h('div', { class: 'op-head' }, this.heading, this.dismiss),
      this.status, this.log, this.result);
    this.addEvents(op.events);
    this.render();
  }

  addEvents(list) {
    for (const e of list || []) {
      if (!e?.event_id || this.events.has(e.event_id)) continue;
      this.events.set(e.event_id, { ...e, _n: this.arrival++ });
    }
  }

  update(op) {
    // Rev orders the states of one operation; never go back.
    if (op.rev !== undefined && this.op.rev !== undefined && op.rev < this.op.rev) {
      this.addEvents(op.events);
      this.render();
      return;
    }
    this.op = { ...this.op, ...op };
    this.addEvents(op.events);
    this.render();
  }

  /** scheduleRender renders at the next frame, once however many events arrived before it. */
  scheduleRender() {
    if (this.queued) return;
    this.queued = true;
    requestAnimationFrame(() => {
      this.queued = false;
      if (this.el.isConnected) this.render();
    });
  }

  /**
   * renderEvents shows evs (in order) in the log. Events nearly always
   * arrive in order: then only the new ones are appended; an event that
   * sorts before one already shown rebuilds the list.
   */
  renderEvents(evs) {
    const inOrder = this.shown.length <= evs.length && this.shown.every((id, i) => evs[i].event_id === id);
    if (!inOrder || this.shown.length === 0) {
      this.log.replaceChildren();
      this.shown = [];
    }
    for (let i = this.shown.length; i < evs.length; i++) {
      this.log.append(eventItem(evs[i]));
      this.shown.push(evs[i].event_id);
    }
    if (evs.length === 0) {
      this.log.replaceChildren(h('li', { class: 'muted' }, 'No stack events yet.'));
    }
  }

  get terminal() {
    return this.op.status === 'succeeded' || this.op.status === 'failed';
  }

  render() {
    const op = this.op;
    this.el.classList.toggle('is-succeeded', op.status === 'succeeded');
    this.el.classList.toggle('is-failed', op.status === 'failed');
    const log = this.log;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 8;
    fill(this.heading, actionTitle(op));
    const evs = [...this.events.values()].sort((a, b) => {
      const ta = Date.parse(a.timestamp) || 0;
      const tb = Date.parse(b.timestamp) || 0;
      return ta - tb || a._n - b._n;
    });
    let text;
    switch (op.status) {
      case 'queued': text = 'Queued — waiting for a worker…'; break;
      case 'running': text = `In progress — ${evs.length} stack event${evs.length === 1 ? '' : 's'} so far`; break;
      case 'succeeded': text = 'Succeeded'; break;
      case 'failed': text = 'Failed'; break;
      default: text = op.status || 'Submitted';
    }
    // Only a change of state is announced, not every event.
    const announce = op.status === 'running' ? 'In progress' : text;
    if (announce !== this.lastStatusText) {
      this.lastStatusText = announce;
      fill(this.status, h('span', { class: `op-badge op-${op.status || 'queued'}` }, text));
    } else if (op.status === 'running') {
      this.status.firstChild.textContent = text;
    }
    this.renderEvents(evs);
    // Follow the newest event, unless the reader scrolled up.
    if (atBottom) log.scrollTop = log.scrollHeight;
    if (op.status === 'succeeded') {
      const [, done] = verbs[op.action] || [op.action, op.action];
      const took = op.finished_at && op.requested_at ? ` (took ${((Date.parse(op.finished_at) - Date.parse(op.requested_at)) / 1000).toFixed(1)} s)` : '';
      fill(this.result, h('p', { class: 'result-good' }, `${capitalize(op.kind)} ${op.name}: ${done}${took}.`));
    } else if (op.status === 'failed') {
      fill(this.result, h('p', { class: 'result-bad' }, h('strong', {}, 'Reason: '), op.error || 'no reason given'));
    } else {
      fill(this.result);
    }
  }
}

/** eventItem is one stack event of the log. */
function eventItem(e) {
  const stackLevel = e.resource_type === 'AWS::CloudFormation::Stack' && e.logical_resource_id === e.stack_name;
  return h('li', { dataset: { status: e.resource_status, eventId: e.event_id } },
    h('time', { datetime: e.timestamp }, clock(e.timestamp)),
    ' ',
    h('span', { class: 'ev-lid', title: e.logical_resource_id }, stackLevel ? 'Stack' : e.logical_resource_id),
    h('span', { class: 'ev-line' },
      h('span', { class: `ev-status ${statusClass(e.resource_status)}` }, e.resource_status),
      ' ',
      h('span', { class: 'ev-type' }, stackLevel ? e.stack_name : e.resource_type)),
    e.status_reason ? h('span', { class: 'ev-reason' }, e.status_reason) : null);
}

function capitalize(s) {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

/** Operations holds the progress panels shown in one container. */
export class Operations {
  constructor(container) {
    this.container = container;
    this.panels = new Map(); // operation id → Panel
    this.empty = h('p', { class: 'muted' }, 'Changes you make show their progress here.');
    this.container.append(this.empty);
  }

  has(id) {
    return this.panels.has(id);
  }

  /** track shows a panel for op (an Operation), newest on top; returns it. */
  track(op) {
    let p = this.panels.get(op.id);
    if (p) {
      p.update(op);
      return p;
    }
    p = new Panel(op, (panel) => this.dismiss(panel));
    this.panels.set(op.id, p);
    this.empty.remove();
    this.container.prepend(p.el);
    // op may carry only its latest event (the list does): read the whole
    // operation once; the event messages continue it, merged by event id.
    this.load(p);
    // Keep the list short: drop the oldest finished panels.
    const finished = [...this.panels.values()].filter((x) => x.terminal);
    while (this.panels.size > MAX_PANELS && finished.length) {
      this.dismiss(finished.pop(), true);
    }
    return p;
  }

  async load(p) {
    try {
      const full = await api.operation(p.op.id);
      if (this.panels.get(p.op.id) === p) p.update(full);
    } catch {
      // The panel keeps what it has; a resync re-reads it.
    }
  }

  dismiss(panel, quiet) {
    const next = panel.el.nextElementSibling || panel.el.previousElementSibling;
    const hadFocus = panel.el.contains(document.activeElement);
    panel.el.remove();
    this.panels.delete(panel.op.id);
    if (this.panels.size === 0) this.container.append(this.empty);
    if (hadFocus && !quiet) {
      const target = next?.querySelector('button') || this.container.closest('[tabindex]') || document.querySelector('main h1');
      target?.focus();
    }
  }

  onOperation(op) {
    this.panels.get(op.id)?.update(op);
  }

  onEvent(ev) {
    const p = this.panels.get(ev.client_request_token);
    if (!p) return;
    p.addEvents([ev]);
    if (p.op.status === 'queued') p.op.status = 'running';
    p.scheduleRender();
  }

  onResource(r) {
    if (r.operation) this.onOperation(r.operation);
  }

  /** refresh re-reads the unfinished operations, after a reconnect. */
  async refresh() {
    await Promise.all([...this.panels.values()].filter((p) => !p.terminal).map(async (p) => {
      try {
        p.update(await api.operation(p.op.id));
      } catch {
        // The next resync tries again.
      }
    }));
  }

  clear() {
    for (const p of [...this.panels.values()]) this.dismiss(p, true);
  }
}
