package engine

import (
	"context"

	"bucketdesk/internal/core"
)

// batchPublisher is a hub that takes several messages of one project at
// once (localhub.Hub): each subscriber receives them together, so a
// stack event's `resource` and `event` messages wake a connection's
// writer once and leave in one write.
type batchPublisher interface {
	PublishAll(ctx context.Context, project string, msgs []core.Message) error
}

type publishBatchKey struct{}

// publishBatch holds the messages published while it is in a context, to
// be published together by flushPublish.
type publishBatch struct {
	project string
	msgs    []core.Message
}

// withPublishBatch returns ctx holding a new batch of project's messages:
// deps.publish adds them to it instead of publishing them.
func withPublishBatch(ctx context.Context, project string) (context.Context, *publishBatch) {
	b := &publishBatch{project: project}
	return context.WithValue(ctx, publishBatchKey{}, b), b
}

// batched adds msg of project to ctx's batch, if it holds one for that
// project, and reports whether it did.
func batched(ctx context.Context, project string, msg core.Message) bool {
	b, _ := ctx.Value(publishBatchKey{}).(*publishBatch)
	if b == nil || b.project != project {
		return false
	}
	b.msgs = append(b.msgs, msg)
	return true
}

// flushPublish publishes b's messages in order, at once when the hub
// takes them so, and empties b.
func (d *deps) flushPublish(ctx context.Context, b *publishBatch) {
	msgs := b.msgs
	b.msgs = nil
	if len(msgs) == 0 {
		return
	}
	if bp, ok := d.Hub.(batchPublisher); ok && len(msgs) > 1 {
		if err := bp.PublishAll(ctx, b.project, msgs); err != nil {
			d.Logger.Warn("publish failed", "project", b.project, "messages", len(msgs), "err", err)
		}
		return
	}
	for _, m := range msgs {
		if err := d.Hub.Publish(ctx, b.project, m); err != nil {
			d.Logger.Warn("publish failed", "project", b.project, "type", m.Type, "err", err)
		}
	}
}
