package engine

import (
	"context"
	"errors"
	"fmt"

	"bucketdesk/internal/core"
	"bucketdesk/internal/stacks"
)

// Direct reads resources the way a design without a cache does: list the
// project's stacks, then fetch and parse every template. It is slow and
// spends CloudFormation's rate limit on every read; it is kept as the
// baseline that the benchmarks compare the cache with.
type Direct struct {
	Cloud core.Cloud
}

// List returns a project's resources of one kind from CloudFormation.
func (d *Direct) List(ctx context.Context, p *core.Project, kind core.Kind) ([]*core.Resource, error) {
	sums, err := d.Cloud.ListStacks(ctx, p.Account(), stacks.Prefix(p.ID))
	if err != nil {
		return nil, err
	}
	var out []*core.Resource
	for _, s := range sums {
		r, err := d.read(ctx, p, s.StackID, s.StackName, s.Status)
		if err != nil {
			return nil, err
		}
		if r != nil && r.Kind == kind {
			out = append(out, r)
		}
	}
	return out, nil
}

// Get returns one resource from CloudFormation.
func (d *Direct) Get(ctx context.Context, p *core.Project, kind core.Kind, name string) (*core.Resource, error) {
	stackName := stacks.StackName(p.ID, kind, name)
	st, err := d.Cloud.DescribeStack(ctx, p.Account(), stackName)
	if err != nil {
		return nil, err
	}
	r, err := d.read(ctx, p, st.StackID, stackName, st.Status)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("%w: no %s named %q", core.ErrNotFound, kind, name)
	}
	r.Observed.Outputs = st.Outputs
	return r, nil
}

func (d *Direct) read(ctx context.Context, p *core.Project, stackID, stackName, status string) (*core.Resource, error) {
	tpl, err := d.Cloud.GetTemplate(ctx, p.Account(), stackID)
	if errors.Is(err, core.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	spec, err := stacks.Parse(tpl)
	if err != nil {
		return nil, nil // not one of ours
	}
	return &core.Resource{
		Project: p.ID, Kind: spec.Kind(), Name: spec.Name(), StackName: stackName, Spec: spec,
		Observed: core.Observed{Phase: core.PhaseOf(status), StackID: stackID, StackStatus: status},
	}, nil
}
