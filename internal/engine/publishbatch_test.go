package engine_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/engine"
)

// batchHub records what reaches the hub, one call a row, and what the
// cache held for the message's resource when it did.
type batchHub struct {
	store core.ResourceStore
	mu    sync.Mutex
	calls [][]core.Message
	held  []int64 // the cached version at each call
}

func (h *batchHub) Publish(ctx context.Context, project string, msg core.Message) error {
	return h.PublishAll(ctx, project, []core.Message{msg})
}

func (h *batchHub) PublishAll(ctx context.Context, project string, msgs []core.Message) error {
	var v int64
	if r := msgs[0]; r.Kind == core.KindBucket {
		if got, err := h.store.GetResource(ctx, core.ResourceKey{Project: project, StackName: stackOf(msgs)}); err == nil {
			v = got.Version
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, msgs)
	h.held = append(h.held, v)
	return nil
}

func stackOf(msgs []core.Message) string {
	for _, m := range msgs {
		if m.Resource != nil {
			return m.Resource.StackName
		}
		if m.Event != nil {
			return m.Event.StackName
		}
	}
	return ""
}

// A stack event's messages reach a hub that takes several at once in one
// call, `resource` before `event`, and only once the write they announce
// is in the cache.
func TestApplyPublishesAStackEventsMessagesTogether(t *testing.T) {
	ctx := t.Context()
	l := open(t, t.TempDir(), simcloud.ZeroOptions())
	l.Start(ctx)
	if _, err := l.Engine.Service.Create(ctx, alice, "demo", bucket("together")); err != nil {
		t.Fatal(err)
	}
	settleAndReconcile(t, l)
	items, _, err := l.Store.ListResources(ctx, "demo", core.Page{})
	if err != nil || len(items) != 1 || items[0].Op == nil {
		t.Fatalf("cache: %d items, %v", len(items), err)
	}
	r := items[0]
	hub := &batchHub{store: l.Store}
	e := engine.New(engine.Options{Resources: l.Store, Projects: l.Store, Queue: l.Queue, Cloud: l.Sandbox, Hub: hub, Logger: slog.New(slog.DiscardHandler)})
	ev := core.StackEvent{
		StackID: r.Observed.StackID, StackName: r.StackName, EventID: "together-progress-1", Timestamp: time.Now().UTC(),
		LogicalResourceID: "Bucket", PhysicalResourceID: r.StackName, ResourceType: "AWS::S3::Bucket",
		ResourceStatus: "UPDATE_IN_PROGRESS", ClientRequestToken: r.Op.ID,
	}
	if err := e.Mirror.Apply(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if len(hub.calls) != 1 {
		t.Fatalf("%d calls to the hub, want 1: %+v", len(hub.calls), hub.calls)
	}
	msgs := hub.calls[0]
	if len(msgs) != 2 || msgs[0].Type != core.MsgResource || msgs[1].Type != core.MsgEvent || msgs[1].Event.EventID != ev.EventID {
		t.Fatalf("published %+v, want resource then the event", msgs)
	}
	if msgs[0].Version <= r.Version || msgs[1].Version != msgs[0].Version {
		t.Errorf("versions %d, %d after %d", msgs[0].Version, msgs[1].Version, r.Version)
	}
	if hub.held[0] != msgs[0].Version {
		t.Errorf("the cache held version %d when version %d was published", hub.held[0], msgs[0].Version)
	}
}
