package bench

import (
	"context"
	"fmt"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/stacks"
	"bucketdesk/internal/store/dynamostore"
	"bucketdesk/internal/store/dynamostore/dynalite"
)

// dynamoSection is section 4: dynamostore's get, list of 200 and
// conditional write against dynalite, one request at a time.
func dynamoSection(ctx context.Context, o Options) (Table, error) {
	t := Table{
		Title:  "The DynamoDB store against dynalite (an emulator figure)",
		Header: []string{"Operation", "n", "p50", "p99", "Target"},
	}
	cli, err := dynalite.CLI()
	if err != nil {
		return t, err
	}
	endpoint, stop, err := dynalite.Launch(cli)
	if err != nil {
		return t, err
	}
	defer stop()
	client := dynalite.Client(endpoint)
	const table = "bucketdesk-bench"
	if err := dynamostore.CreateTable(ctx, client, table); err != nil {
		return t, err
	}
	st, err := dynamostore.New(client, table, nil)
	if err != nil {
		return t, err
	}
	const n = 200
	project := "bench-dynamo"
	var keys []core.ResourceKey
	for i := range n {
		spec := core.Spec{Bucket: &core.BucketSpec{Name: fmt.Sprintf("bench-dynamo-%04d", i), Encryption: core.Encryption{Type: core.EncryptionS3}, Tags: map[string]string{"team": "bench"}}}
		r := &core.Resource{Project: project, Kind: core.KindBucket, Name: spec.Name(), StackName: stacks.StackName(project, core.KindBucket, spec.Name()),
			Spec: spec, Version: 1, Observed: core.Observed{Phase: core.PhaseReady, StackStatus: "CREATE_COMPLETE"}}
		if err := st.PutResource(ctx, r, 0); err != nil {
			return t, err
		}
		keys = append(keys, r.Key())
	}
	reps, budget := 1000, 20*time.Second
	if o.Quick {
		reps, budget = 100, 3*time.Second
	}
	fmt.Fprintf(o.Log, "bench: dynamostore against dynalite…\n")
	i := 0
	get := Sequential(ctx, reps, 1, budget, func(ctx context.Context) error {
		i++
		_, err := st.GetResource(ctx, keys[i%n])
		return err
	})
	list := Sequential(ctx, reps/10, 1, budget, func(ctx context.Context) error {
		rs, _, err := st.ListResources(ctx, project, core.Page{})
		if err == nil && len(rs) != n {
			err = fmt.Errorf("listed %d of %d", len(rs), n)
		}
		return err
	})
	r, err := st.GetResource(ctx, keys[0])
	if err != nil {
		return t, err
	}
	apply := Sequential(ctx, reps, 1, budget, func(ctx context.Context) error {
		prev := r.Version
		r.Version++
		return st.PutResource(ctx, r, prev)
	})
	for _, row := range []struct {
		name string
		rec  *Recorder
	}{{"get (GetItem, strongly consistent)", get}, {"list of 200 (Query)", list}, {"conditional apply (PutItem if version = prev)", apply}} {
		t.Rows = append(t.Rows, []string{row.name, count(row.rec), Ms(row.rec.Percentile(50)), Ms(row.rec.Percentile(99)), "none (emulator)"})
	}
	t.Notes = append(t.Notes, "dynalite (tests/dynalite, Node.js, in memory) on 127.0.0.1 through the AWS SDK, one request at a time. These figures measure the emulator and the SDK's encoding, not DynamoDB: there is no target for them, and DynamoDB's own single-digit-millisecond latencies plus the network to it are what count on AWS.")
	return t, nil
}
