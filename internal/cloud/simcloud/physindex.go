package simcloud

// physIndex finds the stacks that hold a physical resource of a type by
// its physical id, so that a uniqueness check (a bucket name in every
// account, an IAM user or role, a Transfer user in its account) or a
// lookup (the bucket a policy names, the user a key is for) does not walk
// every stack of the sandbox: with thousands of stacks that walk made each create slower than
// the last. The index is kept by commit, the one place every change of a
// stack is written, and by load; a lookup verifies each stack it finds
// (still live, still holding the resource), so a stale entry never
// answers. The stack a step is changing is checked directly, since its
// change is not committed yet.
type physIndex struct {
	byKey   map[string]map[string]struct{} // type NUL physical → stack ids
	byStack map[string][]string            // stack id → its keys
}

func physKey(typ, physical string) string { return typ + "\x00" + physical }

// reindex records st's current physical resources, replacing what was
// recorded of it; s.mu is held.
func (s *Sandbox) reindex(st *stack) {
	s.unindex(st.ID)
	if s.phys.byKey == nil {
		s.phys.byKey = map[string]map[string]struct{}{}
		s.phys.byStack = map[string][]string{}
	}
	var keys []string
	st.live(func(r *record) bool {
		k := physKey(r.Type, r.Physical)
		ids := s.phys.byKey[k]
		if ids == nil {
			ids = map[string]struct{}{}
			s.phys.byKey[k] = ids
		}
		ids[st.ID] = struct{}{}
		keys = append(keys, k)
		return true
	})
	if len(keys) > 0 {
		s.phys.byStack[st.ID] = keys
	}
}

// unindex forgets what was recorded of stack id; s.mu is held.
func (s *Sandbox) unindex(id string) {
	for _, k := range s.phys.byStack[id] {
		if ids := s.phys.byKey[k]; ids != nil {
			delete(ids, id)
			if len(ids) == 0 {
				delete(s.phys.byKey, k)
			}
		}
	}
	delete(s.phys.byStack, id)
}

// physicalLive reports whether a live stack of account ("": any account)
// holds a physical resource of type typ with id physical: cur, the stack
// a step is changing (nil: none), or a stack the index names; s.mu is
// held.
func (s *Sandbox) physicalLive(cur *stack, account, typ, physical string) bool {
	holds := func(st *stack) bool {
		return !st.live(func(r *record) bool { return !(r.Type == typ && r.Physical == physical) })
	}
	live := func(st *stack) bool {
		return !st.Deleted && s.store.byName[st.Account+"\x00"+st.Name] == st.ID && (account == "" || st.Account == account)
	}
	if cur != nil && live(cur) && holds(cur) {
		return true
	}
	for id := range s.phys.byKey[physKey(typ, physical)] {
		if st := s.store.stacks[id]; st != nil && live(st) && holds(st) {
			return true
		}
	}
	return false
}
