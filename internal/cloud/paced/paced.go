// Package paced wraps any core.Cloud with a token bucket per account, so
// that bucketdesk stays under CloudFormation's API rate limit instead of
// being throttled (docs/targets.md: "a token bucket per account"). It is
// bucketdesk's one pacing mechanism: internal/setup wraps the sandbox with
// it locally (LocalConfig.CloudRate) and cfncloud with it on AWS
// (BUCKETDESK_CLOUD_RATE). The adapters under it do not pace themselves.
//
// Each core.Cloud call takes one token, however many requests the adapter
// makes for it (a ListStacks that reads several pages, the events a
// repeated token is checked against). The limiters are per process: every
// process that calls CloudFormation has its own.
package paced

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/time/rate"

	"bucketdesk/internal/core"
)

// Wrap returns c with a token bucket per account: perSecond calls a
// second, burst at once. A call waits for a token or for ctx; a call that
// gives up waiting is an error wrapping core.ErrThrottled and ctx's error,
// and calls nothing. What throttling still comes back is retried by the
// caller (the engine, through internal/retry). perSecond <= 0 returns c
// unchanged.
func Wrap(c core.Cloud, perSecond float64, burst int) core.Cloud {
	if perSecond <= 0 {
		return c
	}
	if burst < 1 {
		burst = 1
	}
	return &paced{Cloud: c, limit: rate.Limit(perSecond), burst: burst, buckets: map[string]*rate.Limiter{}}
}

type paced struct {
	core.Cloud
	limit   rate.Limit
	burst   int
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func (p *paced) wait(ctx context.Context, a core.Account) error {
	p.mu.Lock()
	l := p.buckets[a.ID]
	if l == nil {
		l = rate.NewLimiter(p.limit, p.burst)
		p.buckets[a.ID] = l
	}
	p.mu.Unlock()
	if err := l.Wait(ctx); err != nil {
		return fmt.Errorf("paced: waiting for the rate limit of account %s: %w: %w", a.ID, core.ErrThrottled, err)
	}
	return nil
}

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

func (p *paced) ListStacks(ctx context.Context, a core.Account, prefix string) ([]core.StackSummary, error) {
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
