package setup

import (
	"bucketdesk/internal/core"
	"bucketdesk/internal/engine"
)

// Admin returns the administration of the data directory's projects: an
// account is checked against the sandbox, and disc (nil: none) closes the
// WebSocket connections of removed members and retired projects. It works
// without Start, so that `bucketdesk projects` can use a data directory
// no server holds.
func (l *Local) Admin(disc core.Disconnector) *engine.Admin {
	return engine.NewAdmin(engine.AdminOptions{
		Projects: l.Store, Cloud: l.Sandbox, Disconnector: disc, Auditor: l.Auditor, Clock: l.cfg.Clock, Logger: l.cfg.Logger,
	})
}
