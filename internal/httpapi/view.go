package httpapi

import "bucketdesk/internal/core"

// The views below make the API's answers satisfy its own schema where the
// core types' JSON would not: core leaves a user's grants nil when there
// are none, which encodes as "grants": null, and requests refuse null
// (checkJSON). Shown as [], a spec read from the API can be sent back
// unchanged. They copy what they change: the values are shared.

// specView returns s with a user's nil grants as an empty list.
func specView(s core.Spec) core.Spec {
	if s.User != nil && s.User.Grants == nil {
		u := *s.User
		u.Grants = []core.Grant{}
		s.User = &u
	}
	return s
}

// needsView reports whether specView would change s.
func needsView(s core.Spec) bool { return s.User != nil && s.User.Grants == nil }

// operationView returns op with its spec as specView shows it.
func operationView(op *core.Operation) *core.Operation {
	if op == nil || !needsView(op.Spec) {
		return op
	}
	c := *op
	c.Spec = specView(op.Spec)
	return &c
}

// resourceView returns r with its spec and its operation's as specView
// shows them.
func resourceView(r *core.Resource) *core.Resource {
	if r == nil || (!needsView(r.Spec) && (r.Op == nil || !needsView(r.Op.Spec))) {
		return r
	}
	c := *r
	c.Spec = specView(r.Spec)
	c.Op = operationView(r.Op)
	return &c
}
