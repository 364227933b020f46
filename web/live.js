// The live connection of docs/api.md's real-time protocol: a ticket, then
// the WebSocket; on any close a reconnect with exponential backoff and
// jitter, a new ticket, and a resync (the caller re-reads its lists).
//
// A network that drops silently closes nothing, so the connection also
// keeps an application-level heartbeat: a {"type":"ping"} at least every
// pingMs, and when no frame at all (pong or other) arrives within timeoutMs
// of a ping the connection is given up as 'lost' and replaced. A connection
// attempt (ticket and hello) that takes longer than connectTimeoutMs is
// given up too. Detection takes at most pingMs + timeoutMs (18 s by
// default).

const BASE_DELAY_MS = 400;
const MAX_DELAY_MS = 15000;

/** HEARTBEAT holds the production intervals, in milliseconds. */
export const HEARTBEAT = Object.freeze({ pingMs: 10000, timeoutMs: 8000, connectTimeoutMs: 10000 });

/**
 * heartbeatSettings returns HEARTBEAT with the overrides of localStorage
 * "bucketdesk.heartbeat" (a JSON object with some of its keys, for tests);
 * an override may only shorten an interval, never lengthen it.
 */
export function heartbeatSettings() {
  let o = {};
  try {
    o = JSON.parse(localStorage.getItem('bucketdesk.heartbeat') || '{}') || {};
  } catch {
    o = {};
  }
  const pick = (k) => {
    const v = Number(o[k]);
    return v > 0 ? Math.min(v, HEARTBEAT[k]) : HEARTBEAT[k];
  };
  return { pingMs: pick('pingMs'), timeoutMs: pick('timeoutMs'), connectTimeoutMs: pick('connectTimeoutMs') };
}

/**
 * Live keeps one WebSocket open for as long as it is started.
 * Callbacks: ticket() → {url}; onMessage(msg); onResync(); onStatus(status,
 * detail) with status one of 'connecting', 'live', 'reconnecting' (the
 * socket closed), 'lost' (the heartbeat went unanswered; it stays 'lost'
 * until a connection is live again), 'offline'; onAuthLost(err) when a
 * ticket is refused with 401.
 */
export class Live {
  constructor({ ticket, onMessage, onResync, onStatus, onAuthLost, heartbeat = heartbeatSettings() }) {
    this.ticket = ticket;
    this.onMessage = onMessage;
    this.onResync = onResync;
    this.onStatus = onStatus;
    this.onAuthLost = onAuthLost;
    this.socket = null;
    this.attempt = 0;
    this.stopped = true;
    this.timer = 0;
    this.pingTimer = 0;
    this.pongTimer = 0;
    this.deadline = 0;
    this.heartbeat = heartbeat;
    this.lastFrameAt = 0;
    this.attemptId = 0; // counts connection attempts; a stale one's callbacks do nothing
    this.status = 'offline';
    this.hello = null;
    this.connects = 0;
    this.onOnline = () => {
      if (!this.stopped && !this.socket) this.retryNow();
    };
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('online', this.onOnline);
    this.setStatus('connecting');
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    clearTimeout(this.timer);
    clearTimeout(this.deadline);
    this.stopHeartbeat();
    const s = this.socket;
    this.socket = null;
    if (s) s.close(1000, 'bye');
    this.setStatus('offline');
  }

  setStatus(status, detail = '') {
    this.status = status;
    this.onStatus?.(status, detail);
  }

  /** retryNow gives up the current attempt or wait and connects at once. */
  retryNow() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.abandon();
    this.setStatus(this.status === 'lost' ? 'lost' : 'reconnecting', 'connecting now');
    this.connect();
  }

  // abandon forgets the current socket without waiting for its close,
  // which on a dead network may never come.
  abandon() {
    this.stopHeartbeat();
    const s = this.socket;
    this.socket = null;
    this.attemptId++;
    if (s) {
      try {
        s.close(4000, 'heartbeat');
      } catch {
        // already closing
      }
    }
  }

  async connect() {
    if (this.stopped) return;
    const attempt = ++this.attemptId;
    const current = () => !this.stopped && this.attemptId === attempt;
    // The ticket and the hello must come within connectTimeoutMs: a request
    // into a dead network may otherwise hang for minutes.
    clearTimeout(this.deadline);
    this.deadline = setTimeout(() => {
      if (!current() || this.status === 'live') return;
      this.abandon();
      this.scheduleReconnect('no answer from the server');
    }, this.heartbeat.connectTimeoutMs);
    let t;
    try {
      t = await this.ticket();
    } catch (err) {
      if (!current()) return;
      if (err?.status === 401) {
        this.stop();
        this.onAuthLost?.(err);
        return;
      }
      clearTimeout(this.deadline);
      this.scheduleReconnect(`could not get a ticket: ${err.message}`);
      return;
    }
    if (!current()) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try {
      ws = new WebSocket(`${proto}//${location.host}${t.url}`);
    } catch (err) {
      clearTimeout(this.deadline);
      this.scheduleReconnect(err.message);
      return;
    }
    this.socket = ws;
    ws.addEventListener('message', (e) => {
      if (this.socket !== ws) return;
      // Any frame proves the connection alive.
      this.lastFrameAt = Date.now();
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      switch (msg.type) {
        case 'hello':
          this.hello = msg;
          this.attempt = 0;
          this.connects++;
          clearTimeout(this.deadline);
          this.startPing(msg.limits);
          this.setStatus('live');
          // Whatever happened while we were away is in the lists.
          this.onResync?.('connected');
          break;
        case 'pong':
          break;
        case 'resync':
          this.onResync?.('resync');
          break;
        default:
          this.onMessage?.(msg);
      }
    });
    ws.addEventListener('close', (e) => {
      if (this.socket !== ws) return;
      this.socket = null;
      this.stopHeartbeat();
      if (this.stopped) return;
      clearTimeout(this.deadline);
      this.scheduleReconnect(closeReason(e));
    });
    // An error is always followed by a close; the close reconnects.
  }

  // startPing sends a ping every pingMs (sooner when the server's idle
  // timeout asks for it) and, after each, expects a frame within timeoutMs.
  startPing(limits) {
    this.stopHeartbeat();
    const { pingMs, timeoutMs } = this.heartbeat;
    const idle = Number(limits?.idle_timeout_s) || 0;
    const every = idle > 0 ? Math.max(1000, Math.min(pingMs, (idle * 1000) / 2)) : pingMs;
    const ws = this.socket;
    this.lastFrameAt = Date.now();
    this.pingTimer = setInterval(() => {
      if (this.socket !== ws || ws.readyState !== WebSocket.OPEN) return;
      const sentAt = Date.now();
      ws.send(JSON.stringify({ type: 'ping' }));
      if (this.pongTimer) return; // an earlier ping is still awaited
      this.pongTimer = setTimeout(() => {
        this.pongTimer = 0;
        if (this.socket !== ws || this.lastFrameAt >= sentAt) return;
        this.lost(`no answer for ${Math.round((Date.now() - this.lastFrameAt) / 1000)} s`);
      }, timeoutMs);
    }, every);
  }

  stopHeartbeat() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = 0;
    this.pongTimer = 0;
  }

  // lost gives up a connection whose heartbeat went unanswered.
  lost(reason) {
    if (this.stopped) return;
    this.abandon();
    this.setStatus('lost', reason);
    this.scheduleReconnect(reason);
  }

  scheduleReconnect(reason) {
    clearTimeout(this.timer);
    // Exponential backoff with "equal jitter": half fixed, half random, so
    // that a server restart is not met by every browser at the same instant.
    const cap = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempt);
    const delay = cap / 2 + Math.random() * (cap / 2);
    this.attempt++;
    // A lost connection stays 'lost' until one is live again.
    this.setStatus(this.status === 'lost' ? 'lost' : 'reconnecting', `${reason}; retrying in ${Math.ceil(delay / 1000)} s`);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}

function closeReason(e) {
  switch (e.code) {
    case 4001: return 'connection reached its maximum age';
    case 4002: return 'connection was idle';
    case 4003: return 'access to a project changed';
    case 4008: return 'connection fell behind';
    case 1009: return 'a message was too large';
    case 1006: return 'connection lost';
    default: return e.reason ? `closed: ${e.reason}` : `closed (${e.code})`;
  }
}
