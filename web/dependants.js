// What depends on what, from the page's store: the users whose grants
// name a bucket (the server refuses to delete such a bucket), and the
// grants of a user that name a bucket the project no longer has.
//
// A grant can outlive its bucket although bucketdesk refuses both ways to
// make one: a bucket's stack deleted outside bucketdesk (in the AWS
// console, say) is marked deleted by the reconciler, and the users granted
// on it keep their grants. Such a user can be saved again only without
// them (the server checks every granted bucket), hence the fix here.

import { h } from './dom.js';

/** granteesOf lists the users (resources, by name) that have a grant on bucket. */
export function granteesOf(store, bucket) {
  return store.list('user').filter((u) => (u.spec?.user?.grants || []).some((g) => g.bucket === bucket));
}

/**
 * missingBuckets returns the names of the buckets a user's grants name
 * that are not live buckets of the project: not in the store (deleted ones
 * leave it) or deleted.
 */
export function missingBuckets(store, user) {
  const out = [];
  for (const g of user.spec?.user?.grants || []) {
    const b = store.get('bucket', g.bucket);
    if ((!b || b.observed?.phase === 'deleted') && !out.includes(g.bucket)) out.push(g.bucket);
  }
  return out;
}

/** withoutBuckets returns a copy of a user spec without its grants on names. */
export function withoutBuckets(spec, names) {
  return { ...spec, grants: (spec.grants || []).filter((g) => !names.includes(g.bucket)) };
}

/** brokenMarker is the visible marker of a grant on a missing bucket. */
export function brokenMarker() {
  return h('span', { class: 'broken-grant' }, h('span', { 'aria-hidden': 'true' }, '⚠ '), 'bucket missing');
}

/**
 * fixButton is the one-click fix of a user's broken grants: onFix opens
 * the user's edit form without them.
 */
export function fixButton(user, names, onFix) {
  const what = names.length === 1 ? `the grant on missing bucket ${names[0]}` : `the grants on ${names.length} missing buckets`;
  return h('button', {
    type: 'button', class: 'secondary small fix-grants', dataset: { action: 'fix-grants', focusId: `fix:${user.name}` },
    title: `Edit user ${user.name} without ${what}`, onclick: onFix,
  }, names.length === 1 ? 'Remove broken grant' : 'Remove broken grants', h('span', { class: 'visually-hidden' }, ` of user ${user.name}`));
}

/**
 * granteesNote tells, in the delete dialog of a bucket, which users have
 * grants on it and that the server refuses the delete until they are gone.
 */
export function granteesNote(users) {
  if (!users.length) return null;
  return h('div', { class: 'banner banner-warn grantees' },
    h('p', {}, h('strong', {}, `Granted to ${users.length} user${users.length === 1 ? '' : 's'}: `),
      'bucketdesk refuses to delete this bucket until their grants on it are removed (edit each user).'),
    h('ul', { class: 'grantees-list' }, users.map((u) => h('li', { class: 'mono', dataset: { user: u.name } }, u.name))));
}
