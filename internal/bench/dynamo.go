package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"bucketdesk/internal/core"
	"bucketdesk/internal/stacks"
	"bucketdesk/internal/store/dynamostore"
)

// errNoDynalite means the stand-in is not installed; the section is
// skipped with a note.
var errNoDynalite = errors.New("dynalite is not installed (run `npm ci --prefix tests/dynalite` or `make test-deps`)")

// dynamoSection is section 4: dynamostore's get, list of 200 and
// conditional write against dynalite, one request at a time.
func dynamoSection(ctx context.Context, o Options) (Table, error) {
	t := Table{
		Title:  "4. The DynamoDB store against dynalite (an emulator figure)",
		Header: []string{"Operation", "n", "p50", "p99", "Target"},
	}
	endpoint, stop, err := startDynalite()
	if err != nil {
		return t, err
	}
	defer stop()
	client := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("x", "x", ""),
		BaseEndpoint: aws.String(endpoint), RetryMaxAttempts: 1, HTTPClient: eagerClient{&http.Client{}},
	})
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
	t.Notes = append(t.Notes, "dynalite (tests/dynalite, Node.js, in memory) on 127.0.0.1 through the AWS SDK, one request at a time. These figures measure the emulator and the SDK's encoding, not DynamoDB: DESIGN.md sets no target for them, and DynamoDB's own single-digit-millisecond latencies plus the network to it are what count on AWS.")
	return t, nil
}

// startDynalite runs dynalite from tests/dynalite on a free local port in
// its own process group and waits until it answers.
func startDynalite() (endpoint string, stop func(), err error) {
	if _, err := exec.LookPath("node"); err != nil {
		return "", nil, errNoDynalite
	}
	root, err := repoRoot()
	if err != nil {
		return "", nil, errNoDynalite
	}
	cli := filepath.Join(root, "tests", "dynalite", "node_modules", "dynalite", "cli.js")
	if _, err := os.Stat(cli); err != nil {
		return "", nil, errNoDynalite
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("node", cli, "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--createTableMs", "0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop = func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	endpoint = "http://127.0.0.1:" + strconv.Itoa(port)
	c := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(15 * time.Second); ; {
		res, err := c.Post(endpoint, "application/x-amz-json-1.0", bytes.NewReader([]byte("{}")))
		if err == nil {
			res.Body.Close()
			return endpoint, stop, nil
		}
		select {
		case <-exited:
			return "", nil, errors.New("dynalite exited before answering")
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("dynalite did not answer: %w", err)
		}
	}
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// eagerClient reads each response body whole before the SDK decodes it
// (see dynalitetest.Client for why).
type eagerClient struct{ next *http.Client }

func (c eagerClient) Do(req *http.Request) (*http.Response, error) {
	res, err := c.next.Do(req)
	if err != nil {
		return res, err
	}
	data, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(data))
	return res, nil
}
