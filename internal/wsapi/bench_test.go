package wsapi_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/wsapi"
)

// BenchmarkFanOut publishes one stack-event message at a time to every
// connected client of a project and reports deliveries per second (frames
// read by clients). Clients run in the same process, so they share the
// CPU with the server. Publishing pauses every window messages until all
// are delivered, so that no client overflows its queue.
func BenchmarkFanOut(b *testing.B) {
	for _, clients := range []int{100, 1000} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { benchFanOut(b, clients) })
	}
}

func benchFanOut(b *testing.B, clients int) {
	const window = 64
	e := newEnv(b, wsapi.Limits{})
	var delivered, target atomic.Int64
	signal := make(chan struct{}, 1)
	for range clients {
		c := e.connect(b, "u", "p")
		go func() {
			for {
				_, r, err := c.Reader(context.Background())
				if err != nil {
					return
				}
				io.Copy(io.Discard, r)
				if delivered.Add(1) == target.Load() {
					select {
					case signal <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	ev := &core.StackEvent{
		StackID:   "arn:aws:cloudformation:eu-west-1:123456789012:stack/bd-p-bucket-b1/0f3e2c10-0000-11ef-8000-0a1b2c3d4e5f",
		StackName: "bd-p-bucket-b1", EventID: "Bucket-UPDATE_IN_PROGRESS-2026-01-02T03:04:05.678Z",
		Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC), LogicalResourceID: "Bucket",
		PhysicalResourceID: "p-b1", ResourceType: "AWS::S3::Bucket", ResourceStatus: "UPDATE_IN_PROGRESS",
		ClientRequestToken: "01JGZQ8K3V4X5Y6Z7A8B9C0D1E",
	}
	waitAll := func(published int64) {
		t := published * int64(clients)
		target.Store(t)
		for delivered.Load() < t {
			<-signal
		}
	}
	var n int64
	start := time.Now()
	for b.Loop() {
		n++
		e.hub.Publish(context.Background(), "p", core.Message{Type: core.MsgEvent, Project: "p", Kind: "bucket", Name: "b1", Version: n, Event: ev})
		if n%window == 0 {
			waitAll(n)
		}
	}
	waitAll(n)
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(n*int64(clients))/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(n*int64(clients)), "ns/delivery")
	if s := e.h.Stats(); s.SlowConsumerDisconnects != 0 {
		b.Fatalf("slow consumers in the benchmark: %+v", s)
	}
}

// BenchmarkIdleConnections opens idle connections and reports the heap and
// stack they hold, server and client side together (both run in this
// process), per connection.
func BenchmarkIdleConnections(b *testing.B) {
	const conns = 2000
	e := newEnv(b, wsapi.Limits{})
	before := inUse()
	for range conns {
		e.connect(b, "u", "p")
	}
	after := inUse()
	for b.Loop() {
		// The figure is the memory held by the connections opened above;
		// there is nothing to repeat.
	}
	b.ReportMetric(float64(after-before)/conns, "bytes/conn")
	b.ReportMetric(float64(after-before)/conns*10000/(1<<20), "MiB/10k-conns")
}

func inUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}
