// The page's copy of a project's resources. Per (kind, name) it keeps the
// highest version seen and drops anything older (docs/api.md, the real-time protocol): messages
// arrive in any order across reconnects, and a list read may race them.
// An item is either a whole Resource (a "resource" message, a GET) or a
// list row (a ListItem, docs/api.md: what a table row needs, no details);
// at the same version the whole one is kept, so that a list read never
// drops details the page holds.

// rows are the items that came from a list.
const rows = new WeakSet();

/** isRow reports whether r is a list row, not a whole resource: its details are a GET away. */
export function isRow(r) {
  return rows.has(r);
}

/** key names a resource in the store. */
export function rkey(kind, name) {
  return `${kind}/${name}`;
}

/**
 * versioningLabel is a bucket spec's versioning as the bucket table shows
 * it: On; Suspended once a versioned bucket has versioning turned off (S3
 * cannot make it unversioned again; the server sets versioning_suspended);
 * Off for a bucket that was never versioned.
 */
export function versioningLabel(bucket) {
  if (bucket?.versioning) return 'On';
  return bucket?.versioning_suspended ? 'Suspended' : 'Off';
}

/** VersioningOffHint is the versioning checkbox's hint in the edit form. */
export const VersioningOffHint = 'Turning versioning off on a versioned bucket suspends it: S3 keeps the versions it has, and a versioned bucket can never be made unversioned again.';

export class ResourceStore {
  constructor() {
    this.items = new Map(); // key → Resource
    this.versions = new Map(); // key → highest version seen, also of a deletion
    this.touched = new Map(); // key → seq of the last change a message made
    this.seq = 0;
    this.rev = 0; // counts every change of items, for views that cache what they computed from them
    this.lists = new Map(); // kind → {rev, list}: list's answer while rev holds
  }

  clear() {
    this.rev++;
    this.items.clear();
    this.versions.clear();
    this.touched.clear();
  }

  /** known returns the highest version seen for (kind, name), 0 if none. */
  known(kind, name) {
    return this.versions.get(rkey(kind, name)) || 0;
  }

  /**
   * fresh reports whether a message of version v about (kind, name) is to
   * be used: a resource state must be newer than what is shown; an
   * operation or event message may carry the version it was published with,
   * the same as the resource state sent just before it.
   */
  fresh(kind, name, v, sameIsFresh) {
    const k = this.known(kind, name);
    return sameIsFresh ? v >= k : v > k;
  }

  /**
   * put applies a whole resource state (a message, a GET) of its version;
   * false when it is older, or of the version held and adds nothing (only
   * a list row of that version gives way to it).
   */
  put(r) {
    const k = rkey(r.kind, r.name);
    if (!this.fresh(r.kind, r.name, r.version, false)) {
      const cur = this.items.get(k);
      if (r.version !== this.known(r.kind, r.name) || !cur || !rows.has(cur) || rows.has(r)) return false;
    }
    this.versions.set(k, r.version);
    this.touched.set(k, ++this.seq);
    this.rev++;
    if (r.observed?.phase === 'deleted' && !r.lock) {
      this.items.delete(k);
    } else {
      this.items.set(k, r);
    }
    return true;
  }

  /** remove applies a resource_deleted message; false when it is older. */
  remove(kind, name, version) {
    const k = rkey(kind, name);
    if (!this.fresh(kind, name, version, false)) return false;
    this.versions.set(k, version);
    this.touched.set(k, ++this.seq);
    this.rev++;
    this.items.delete(k);
    return true;
  }

  /** mark returns a sequence number to pass to replaceKind after a list read. */
  mark() {
    return this.seq;
  }

  /**
   * replaceKind takes a fresh list (of rows) of one kind read after mark:
   * listed items replace older ones (a whole resource of the same version
   * stays), and items that are not listed go, unless a message changed
   * them after the read began.
   */
  replaceKind(kind, list, mark) {
    this.rev++;
    const listed = new Set();
    for (const r of list) {
      rows.add(r);
      const k = rkey(r.kind || kind, r.name);
      listed.add(k);
      const known = this.versions.get(k) || 0;
      if (r.version > known || (r.version === known && !this.items.has(k))) {
        this.versions.set(k, r.version);
        this.items.set(k, r);
      }
    }
    for (const [k, r] of this.items) {
      if (r.kind !== kind || listed.has(k)) continue;
      if ((this.touched.get(k) || 0) > mark) continue;
      this.items.delete(k);
    }
  }

  get(kind, name) {
    return this.items.get(rkey(kind, name)) || null;
  }

  /** list returns the resources of one kind ordered by name. */
  list(kind) {
    // Worked out once per change of the store (a project's tables ask for
    // it on every render that follows a change), and copied for the caller.
    let c = this.lists.get(kind);
    if (!c || c.rev !== this.rev) {
      c = { rev: this.rev, list: [...this.items.values()].filter((r) => r.kind === kind).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) };
      this.lists.set(kind, c);
    }
    return c.list.slice();
  }
}
