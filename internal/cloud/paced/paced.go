// Package paced keeps bucketdesk under CloudFormation's API rate limit
// instead of being throttled (docs/targets.md: "a token bucket per
// account"). It is bucketdesk's one pacing mechanism: a Limiter holds a
// token bucket per account, and each request to CloudFormation takes a
// token. internal/setup applies it in the one way each Cloud needs:
//
//   - Wrap paces a core.Cloud whose every call is one request, except a
//     ListStacks of several pages, each paced, when the Cloud is a
//     PagedLister (the sandbox, locally: LocalConfig.CloudRate);
//   - cfncloud, whose calls may make several requests (a ListStacks of
//     several pages, the events a repeated token is checked against),
//     calls Limiter.Wait before each request (cfncloud.Options.Pace; on
//     AWS: BUCKETDESK_CLOUD_RATE).
//
// The adapters do not pace themselves otherwise. The limiters are per
// process: every process that calls CloudFormation has its own.
package paced

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/time/rate"

	"bucketdesk/internal/core"
)

// Limiter is a token bucket per account. It is safe for concurrent use.
type Limiter struct {
	limit   rate.Limit
	burst   int
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// NewLimiter returns a limiter of perSecond requests a second per
// account, burst at once (at least 1); perSecond <= 0 returns nil, a
// limiter that never waits.
func NewLimiter(perSecond float64, burst int) *Limiter {
	if perSecond <= 0 {
		return nil
	}
	return &Limiter{limit: rate.Limit(perSecond), burst: max(burst, 1), buckets: map[string]*rate.Limiter{}}
}

// Wait takes a token of a's bucket, waiting for one or for ctx. Giving up
// is an error wrapping core.ErrThrottled and ctx's error. A nil Limiter
// returns at once.
func (l *Limiter) Wait(ctx context.Context, a core.Account) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	b := l.buckets[a.ID]
	if b == nil {
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[a.ID] = b
	}
	l.mu.Unlock()
	if err := b.Wait(ctx); err != nil {
		return fmt.Errorf("paced: waiting for the rate limit of account %s: %w: %w", a.ID, core.ErrThrottled, err)
	}
	return nil
}

// Wrap returns c with a token bucket per account: perSecond calls a
// second, burst at once, each call of c one request. A call waits for a
// token or for ctx; a call that gives up waiting calls nothing. What
// throttling still comes back is retried by the caller (the engine,
// through internal/retry). perSecond <= 0 returns c unchanged.
func Wrap(c core.Cloud, perSecond float64, burst int) core.Cloud {
	l := NewLimiter(perSecond, burst)
	if l == nil {
		return c
	}
	return &paced{Cloud: c, l: l}
}

type paced struct {
	core.Cloud
	l *Limiter
}

func (p *paced) wait(ctx context.Context, a core.Account) error { return p.l.Wait(ctx, a) }

func (p *paced) CreateStack(ctx context.Context, a core.Account, req core.StackRequest) (string, error) {
	if err := p.wait(ctx, a); err != nil {
		return "", err
	}
	return p.Cloud.CreateStack(ctx, a, req)
}

func (p *paced) UpdateStack(ctx context.Context, a core.Account, req core.StackRequest) (string, error) {
	if err := p.wait(ctx, a); err != nil {
		return "", err
	}
	return p.Cloud.UpdateStack(ctx, a, req)
}

func (p *paced) DeleteStack(ctx context.Context, a core.Account, name, token string) error {
	if err := p.wait(ctx, a); err != nil {
		return err
	}
	return p.Cloud.DeleteStack(ctx, a, name, token)
}

func (p *paced) DescribeStack(ctx context.Context, a core.Account, stack string) (*core.Stack, error) {
	if err := p.wait(ctx, a); err != nil {
		return nil, err
	}
	return p.Cloud.DescribeStack(ctx, a, stack)
}

// PagedLister is a core.Cloud whose ListStacks makes one request per
// page (the sandbox: simcloud.Sandbox.ListStacksPaced). Wrap paces each of
// its pages, calling wait before each request.
type PagedLister interface {
	ListStacksPaced(ctx context.Context, a core.Account, prefix string, wait func(context.Context) error) ([]core.StackSummary, error)
}

func (p *paced) ListStacks(ctx context.Context, a core.Account, prefix string) ([]core.StackSummary, error) {
	if pl, ok := p.Cloud.(PagedLister); ok {
		return pl.ListStacksPaced(ctx, a, prefix, func(ctx context.Context) error { return p.wait(ctx, a) })
	}
	if err := p.wait(ctx, a); err != nil {
		return nil, err
	}
	return p.Cloud.ListStacks(ctx, a, prefix)
}

func (p *paced) GetTemplate(ctx context.Context, a core.Account, stack string) (string, error) {
	if err := p.wait(ctx, a); err != nil {
		return "", err
	}
	return p.Cloud.GetTemplate(ctx, a, stack)
}

func (p *paced) GetSecretValue(ctx context.Context, a core.Account, arn string) (string, error) {
	if err := p.wait(ctx, a); err != nil {
		return "", err
	}
	return p.Cloud.GetSecretValue(ctx, a, arn)
}
