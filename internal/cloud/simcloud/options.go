package simcloud

import (
	"fmt"
	"time"

	"bucketdesk/internal/core"
)

// Options configure a Sandbox. A nil *Options passed to New means
// DemoOptions; the zero Options (see ZeroOptions) makes everything
// instantaneous and unlimited, which is what tests want.
type Options struct {
	// Clock tells the time and waits; nil is the system clock. Tests pass
	// a manual clock (package clock).
	Clock core.Clock
	// ResourceDuration is how long each resource step (create, update or
	// delete of one resource) takes; 0 is instantaneous.
	ResourceDuration time.Duration
	// APILatency is added to every API call; 0 is none.
	APILatency time.Duration
	// RateLimit is CloudFormation's own API rate limit, simulated: calls
	// of one account beyond it fail with ErrThrottled ("Throttling: Rate
	// exceeded"), as AWS answers them; the zero value is unlimited. It
	// refuses, it never waits: staying under it is the caller's pacing
	// (internal/cloud/paced), and a throttled call is the caller's to retry.
	RateLimit RateLimit
	// Chaos disturbs the delivery of event notifications; the zero value
	// delivers every notification once, in order, at once.
	Chaos Chaos
	// TopicARN is the SNS topic named in notification envelopes when a
	// stack has no NotificationARNs; "" derives one from the stack's
	// account and region (bucketdesk-events).
	TopicARN string
	// FailTypes makes the create and update of every resource of a type
	// fail with the given reason, e.g. {"AWS::IAM::User": "Access
	// Denied"}; the resource's delete still succeeds.
	FailTypes map[string]string
	// FailRate makes stack operations fail at random, per action, drawn
	// from Chaos.Seed: the first resource a failing create or update
	// touches fails (and the stack rolls back), the first resource a
	// failing delete deletes fails (DELETE_FAILED; a retry draws again).
	// The zero value fails nothing.
	FailRate FailRate
	// NoSync skips the fsync of the bbolt file after each step: faster,
	// and only a machine crash (not a process exit) can lose state.
	NoSync bool
	// Retention is how long a DELETE_COMPLETE stack stays describable by
	// its id, with its template and events, after its deletion; then the
	// sandbox forgets it, as CloudFormation does after 90 days. 0 is
	// those 90 days; a soak run sets it short to keep the file small.
	Retention time.Duration
	// OutsideBuckets are buckets that exist in an account without a
	// bucketdesk stack, such as a project's server access log bucket
	// (created by deploy/project-account.yaml): they count as existing
	// for the logging destination check and as taken names for bucket
	// name uniqueness.
	OutsideBuckets []OutsideBucket
	// Roles maps a role ARN to the external id its trust policy demands,
	// as cfntest's ExternalIDs: every call through a listed role with
	// another external id (or none) answers AccessDenied, as STS's
	// AssumeRole would. A role not listed is assumed with any external id,
	// but never one of another account than the call's.
	Roles map[string]string
}

// defaultRetention is CloudFormation's: "Summary information for stacks
// that have been deleted is kept for 90 days after the stack is deleted"
// (ListStacks).
const defaultRetention = 90 * 24 * time.Hour

// FailRate holds the probabilities in [0, 1] that a stack operation of
// each action fails on purpose.
type FailRate struct {
	Create, Update, Delete float64
}

// FailTag is the tag that makes a resource fail on purpose, so that a
// manager trying the product can see a failure and its rollback: a
// resource whose Tags hold FailTag with the value "create" fails to be
// created, with "update" fails in any update of its stack (which rolls
// back, and with it the tag). A bucket tagged "delete" gets an object
// written into it as CloudFormation starts to delete it — as by a writer
// racing bucketdesk's emptiness check — once per bucket, so that its
// delete fails (DELETE_FAILED) until it is emptied. Only the sandbox reads
// it; AWS ignores it.
const FailTag = "sandbox-fail"

// RateLimit is the simulated AWS limiter of Options.RateLimit: a token
// bucket per account, Burst calls at once, refilled at PerSecond calls per
// second, measured on the Options' clock. A call finding it empty is
// throttled, not delayed.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// Chaos disturbs notification delivery, per subscriber and notification,
// deterministically for a given Seed and order of events.
type Chaos struct {
	Seed int64
	// Duplicate, Reorder and Drop are probabilities in [0, 1]: deliver
	// twice; hold back and deliver after the next notification; never
	// deliver.
	Duplicate, Reorder, Drop float64
	// MaxDelay delays each delivery by a random duration below it, on the
	// Options' clock; delayed notifications overtake one another.
	MaxDelay time.Duration
}

// DemoOptions returns realistic settings for a demo: resources take
// 1.5 s each, API calls 100 ms, 5 calls per second per account (burst 10),
// and a little duplication, reordering and delay of events, as SNS does.
func DemoOptions() *Options {
	return &Options{
		Clock:            core.SystemClock{},
		ResourceDuration: 1500 * time.Millisecond,
		APILatency:       100 * time.Millisecond,
		RateLimit:        RateLimit{PerSecond: 5, Burst: 10},
		Chaos: Chaos{
			Seed:      time.Now().UnixNano(),
			Duplicate: 0.02,
			Reorder:   0.05,
			MaxDelay:  300 * time.Millisecond,
		},
	}
}

// ZeroOptions returns settings for tests: the system clock, no durations,
// no latency, no rate limit and no chaos. Set Clock to a manual clock to
// control time.
func ZeroOptions() *Options { return &Options{} }

func (o *Options) validate() error {
	c := o.Chaos
	f := o.FailRate
	for _, p := range []float64{c.Duplicate, c.Reorder, c.Drop, f.Create, f.Update, f.Delete} {
		if p < 0 || p > 1 {
			return fmt.Errorf("simcloud: probability %v not in [0, 1]: %w", p, core.ErrInvalid)
		}
	}
	if o.ResourceDuration < 0 || o.APILatency < 0 || c.MaxDelay < 0 || o.RateLimit.PerSecond < 0 || o.Retention < 0 {
		return fmt.Errorf("simcloud: negative option: %w", core.ErrInvalid)
	}
	return nil
}
