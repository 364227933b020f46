package dynamostore_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/store/dynamostore/dynalitetest"
)

// BenchmarkEmulator measures the hot store calls against dynalite on
// localhost. These are EMULATOR figures: they show the adapter's own cost
// (encoding, the SDK's signing and (de)serialization) plus dynalite's, not
// DynamoDB's latency, which adds a network round trip of a few ms in the
// same region.
func BenchmarkEmulator(b *testing.B) {
	client := dynalitetest.Client(dynalitetest.Start(b))
	s := newStore(b, client, nil)
	ctx := b.Context()
	const n = 200
	for i := range n {
		if err := s.PutResource(ctx, benchResource("p1", fmt.Sprintf("bd-p1-bucket-%03d", i), 1), 0); err != nil {
			b.Fatal(err)
		}
	}
	key := core.ResourceKey{Project: "p1", StackName: "bd-p1-bucket-007"}

	b.Run("GetResource", func(b *testing.B) {
		timed(b, func() error {
			_, err := s.GetResource(ctx, key)
			return err
		})
	})
	b.Run("ListResources200", func(b *testing.B) {
		timed(b, func() error {
			rs, _, err := s.ListResources(ctx, "p1", core.Page{})
			if err == nil && len(rs) != n {
				err = fmt.Errorf("listed %d, want %d", len(rs), n)
			}
			return err
		})
	})
	b.Run("PutResourceConditional", func(b *testing.B) {
		r := benchResource("p1", "bd-p1-bucket-put", 1)
		if err := s.PutResource(ctx, r, 0); err != nil {
			b.Fatal(err)
		}
		timed(b, func() error {
			prev := r.Version
			r.Version++
			return s.PutResource(ctx, r, prev)
		})
	})
}

// timed runs fn b.N times and reports the median and p99 latency besides
// the mean (ns/op).
func timed(b *testing.B, fn func() error) {
	b.Helper()
	b.ReportAllocs()
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}

func benchResource(project, stack string, version int64) *core.Resource {
	return &core.Resource{
		Project: project, Kind: core.KindBucket, Name: stack, StackName: stack,
		Spec: core.Spec{Bucket: &core.BucketSpec{
			Name: stack, Versioning: true, Encryption: core.Encryption{Type: core.EncryptionS3},
			ExpiryDays: 30, Tags: map[string]string{"team": "data", "cost-center": "42"},
		}},
		Observed: core.Observed{
			Phase: core.PhaseReady, StackStatus: "CREATE_COMPLETE",
			StackID: "arn:aws:cloudformation:eu-west-1:123456789012:stack/" + stack + "/0f1e2d3c",
			Outputs: map[string]string{"BucketArn": "arn:aws:s3:::" + stack},
		},
		LastEvent: core.EventRef{ID: "ev-1", Time: base},
		Version:   version, UpdatedAt: base,
	}
}
