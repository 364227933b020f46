// The live connection of docs/api.md's real-time protocol: a ticket, then
// the WebSocket; on any close a reconnect with exponential backoff and
// jitter, a new ticket, and a resync (the caller re-reads its lists).

const BASE_DELAY_MS = 400;
const MAX_DELAY_MS = 15000;
const DEFAULT_PING_MS = 25000;

/**
 * Live keeps one WebSocket open for as long as it is started.
 * Callbacks: ticket() → {url}; onMessage(msg); onResync(); onStatus(status,
 * detail) with status one of 'connecting', 'live', 'reconnecting', 'offline';
 * onAuthLost(err) when a ticket is refused with 401.
 */
export class Live {
  constructor({ ticket, onMessage, onResync, onStatus, onAuthLost }) {
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
    clearInterval(this.pingTimer);
    const s = this.socket;
    this.socket = null;
    if (s) s.close(1000, 'bye');
    this.setStatus('offline');
  }

  setStatus(status, detail = '') {
    this.status = status;
    this.onStatus?.(status, detail);
  }

  retryNow() {
    clearTimeout(this.timer);
    this.connect();
  }

  async connect() {
    if (this.stopped) return;
    let t;
    try {
      t = await this.ticket();
    } catch (err) {
      if (this.stopped) return;
      if (err?.status === 401) {
        this.stop();
        this.onAuthLost?.(err);
        return;
      }
      this.scheduleReconnect(`could not get a ticket: ${err.message}`);
      return;
    }
    if (this.stopped) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try {
      ws = new WebSocket(`${proto}//${location.host}${t.url}`);
    } catch (err) {
      this.scheduleReconnect(err.message);
      return;
    }
    this.socket = ws;
    ws.addEventListener('message', (e) => {
      if (this.socket !== ws) return;
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
      clearInterval(this.pingTimer);
      if (this.stopped) return;
      this.scheduleReconnect(closeReason(e));
    });
    // An error is always followed by a close; the close reconnects.
  }

  startPing(limits) {
    clearInterval(this.pingTimer);
    const idle = Number(limits?.idle_timeout_s) || 0;
    const every = idle > 0 ? Math.max(1000, Math.min(DEFAULT_PING_MS, (idle * 1000) / 2)) : DEFAULT_PING_MS;
    this.pingTimer = setInterval(() => {
      if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ type: 'ping' }));
    }, every);
  }

  scheduleReconnect(reason) {
    clearTimeout(this.timer);
    // Exponential backoff with "equal jitter": half fixed, half random, so
    // that a server restart is not met by every browser at the same instant.
    const cap = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempt);
    const delay = cap / 2 + Math.random() * (cap / 2);
    this.attempt++;
    this.setStatus('reconnecting', `${reason}; retrying in ${Math.ceil(delay / 1000)} s`);
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
