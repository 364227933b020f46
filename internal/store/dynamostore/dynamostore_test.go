package dynamostore_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"bucketdesk/internal/core"
	"bucketdesk/internal/core/porttest"
	"bucketdesk/internal/store/dynamostore"
	"bucketdesk/internal/store/dynamostore/dynalitetest"
)

// TestConformance runs the suite of every store port on dynalite, a fresh
// table per subtest, and checks that nothing in them scanned the table.
func TestConformance(t *testing.T) {
	endpoint := dynalitetest.Start(t)
	rec := &recorder{}
	client := dynalitetest.Client(endpoint, rec.use)
	conformance(t, func(t *testing.T) *dynamostore.Store {
		return newStore(t, client, nil)
	})
	if n := rec.count("Scan"); n > 0 {
		t.Errorf("the suite made %d Scan requests; every listing must be a Query", n)
	}
}

// TestConformanceEventuallyConsistent runs the suite with eventually
// consistent reads, which dynalite serves consistently anyway: it checks
// that the option changes nothing else.
func TestConformanceEventuallyConsistent(t *testing.T) {
	if testing.Short() {
		t.Skip("the suite runs once in -short")
	}
	client := dynalitetest.Client(dynalitetest.Start(t))
	conformance(t, func(t *testing.T) *dynamostore.Store {
		return newStore(t, client, &dynamostore.Options{EventuallyConsistent: true})
	})
}

// conformance runs the suite of every port that Store implements, each
// subtest on a fresh store from newStore.
func conformance(t *testing.T, newStore func(t *testing.T) *dynamostore.Store) {
	porttest.RunProjectStoreTests(t, func(t *testing.T) core.ProjectStore { return newStore(t) })
	porttest.RunResourceStoreTests(t, func(t *testing.T) core.ResourceStore { return newStore(t) })
	porttest.RunConnectionStoreTests(t, func(t *testing.T) core.ConnectionStore { return newStore(t) })
	porttest.RunTicketStoreTests(t, func(t *testing.T) core.TicketStore { return newStore(t) })
	porttest.RunAuditStoreTests(t, func(t *testing.T) core.AuditStore { return newStore(t) })
	porttest.RunShareLinkStoreTests(t, func(t *testing.T) core.ShareLinkStore { return newStore(t) })
}

// TestListsUseTheIndex: a project's connections and operations are found
// by a Query of the index, never by a Scan.
func TestListsUseTheIndex(t *testing.T) {
	rec := &recorder{}
	client := dynalitetest.Client(dynalitetest.Start(t), rec.use)
	s := newStore(t, client, nil)
	ctx := t.Context()
	for i := range 3 {
		c := &core.Connection{ID: fmt.Sprintf("c%d", i), User: "u", Projects: []string{"p1", "p2"}, ConnectedAt: base, ExpiresAt: base.Add(time.Hour)}
		if err := s.PutConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	op := &core.Operation{ID: "01JNJ5Y0R9ZK4T3V7Q8W2X6M1A", Project: "p1", Action: core.ActionCreate, Status: core.OpQueued, Rev: 1}
	if err := s.PutOperation(ctx, op); err != nil {
		t.Fatal(err)
	}

	rec.reset()
	cs, err := s.ListConnections(ctx, "p1", base)
	if err != nil || len(cs) != 3 {
		t.Fatalf("ListConnections = %d, %v; want 3, nil", len(cs), err)
	}
	ops, _, err := s.ListOperations(ctx, "p1", core.Page{})
	if err != nil || len(ops) != 1 {
		t.Fatalf("ListOperations = %d, %v; want 1, nil", len(ops), err)
	}
	reqs := rec.requests()
	if len(reqs) != 2 {
		t.Fatalf("two listings made %d requests (%v), want 2", len(reqs), reqs)
	}
	for _, r := range reqs {
		if r.op != "Query" || r.index != dynamostore.IndexName {
			t.Errorf("a listing made %s on index %q; want Query on %q", r.op, r.index, dynamostore.IndexName)
		}
	}
}

// TestExpiredItemsIgnored: dynalite never deletes expired items, as
// DynamoDB deletes them only eventually; reads must not see them.
func TestExpiredItemsIgnored(t *testing.T) {
	client := dynalitetest.Client(dynalitetest.Start(t))
	s, table := newStoreTable(t, client)
	ctx := t.Context()
	now := time.Now()

	old := &core.Connection{ID: "old", User: "u", Projects: []string{"p1"}, ConnectedAt: now.Add(-3 * time.Hour), ExpiresAt: now.Add(-time.Hour)}
	live := &core.Connection{ID: "live", User: "u", Projects: []string{"p1"}, ConnectedAt: now, ExpiresAt: now.Add(time.Hour)}
	for _, c := range []*core.Connection{old, live} {
		if err := s.PutConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := s.ListConnections(ctx, "p1", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].ID != "live" {
		t.Errorf("ListConnections = %v, want only live", ids(cs))
	}
	// The expired item is still stored: reads filtered it, TTL did not.
	if item := rawItem(t, client, table, "CONN#old", "p1"); item == nil {
		t.Error("the expired connection item is gone; this test no longer shows filtering")
	}

	tk := &core.Ticket{Hash: "h-expired", User: "u", Projects: []string{"p1"}, ExpiresAt: now.Add(-time.Second)}
	if err := s.PutTicket(ctx, tk); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeTicket(ctx, tk.Hash, now); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("TakeTicket(expired) error = %v, want ErrNotFound", err)
	}
	if item := rawItem(t, client, table, "TICKET#h-expired", "TICKET"); item == nil {
		t.Error("the expired ticket item is gone; this test no longer shows filtering")
	}
}

// TestTTLAttribute: expires_at, the table's TTL attribute, is epoch
// seconds rounded up, so that DynamoDB never removes an item early.
func TestTTLAttribute(t *testing.T) {
	client := dynalitetest.Client(dynalitetest.Start(t))
	s, table := newStoreTable(t, client)
	ctx := t.Context()
	at := time.Unix(1_900_000_000, 1)
	if err := s.PutTicket(ctx, &core.Ticket{Hash: "h", User: "u", ExpiresAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutConnection(ctx, &core.Connection{ID: "c", User: "u", Projects: []string{"p"}, ExpiresAt: at}); err != nil {
		t.Fatal(err)
	}
	for _, k := range [][2]string{{"TICKET#h", "TICKET"}, {"CONN#c", "p"}} {
		item := rawItem(t, client, table, k[0], k[1])
		n, ok := item["expires_at"].(*types.AttributeValueMemberN)
		if !ok || n.Value != "1900000001" {
			t.Errorf("item %s expires_at = %#v, want N 1900000001", k[0], item["expires_at"])
		}
	}
}

// TestNewerItemsTolerated: an item written by a newer version of
// bucketdesk (an unknown JSON field, an unknown attribute) is read, and
// written over, without error.
func TestNewerItemsTolerated(t *testing.T) {
	client := dynalitetest.Client(dynalitetest.Start(t))
	s, table := newStoreTable(t, client)
	ctx := t.Context()
	r := &core.Resource{
		Project: "p1", Kind: core.KindBucket, Name: "logs", StackName: "bd-p1-bucket-logs",
		Observed: core.Observed{Phase: core.PhaseReady, StackStatus: "CREATE_COMPLETE"},
		Version:  4, UpdatedAt: base,
	}
	doc, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	m["replication"] = map[string]any{"region": "eu-central-1", "rules": []int{1, 2}}
	m["observed"].(map[string]any)["drift"] = "IN_SYNC"
	doc, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item: map[string]types.AttributeValue{
			"pk":         &types.AttributeValueMemberS{Value: "RES#p1"},
			"sk":         &types.AttributeValueMemberS{Value: r.StackName},
			"t":          &types.AttributeValueMemberS{Value: "resource"},
			"doc":        &types.AttributeValueMemberS{Value: string(doc)},
			"version":    &types.AttributeValueMemberN{Value: "4"},
			"schema":     &types.AttributeValueMemberN{Value: "2"},
			"shard_hint": &types.AttributeValueMemberS{Value: "a"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetResource(ctx, r.Key())
	if err != nil {
		t.Fatalf("GetResource of a newer item: %v", err)
	}
	if got.Version != 4 || got.Observed.StackStatus != "CREATE_COMPLETE" {
		t.Errorf("GetResource of a newer item = version %d, %q", got.Version, got.Observed.StackStatus)
	}
	rs, _, err := s.ListResources(ctx, "p1", core.Page{})
	if err != nil || len(rs) != 1 {
		t.Fatalf("ListResources of a newer item = %d, %v; want 1, nil", len(rs), err)
	}
	u := got.Clone()
	u.Version = 5
	if err := s.PutResource(ctx, u, 4); err != nil {
		t.Errorf("PutResource over a newer item: %v", err)
	}
}

// TestCursors: a cursor is opaque; one that is not ours, or that belongs
// to another project, is ErrInvalid rather than a page of someone else's
// items.
func TestCursors(t *testing.T) {
	client := dynalitetest.Client(dynalitetest.Start(t))
	s := newStore(t, client, nil)
	ctx := t.Context()
	for _, p := range []string{"p1", "p2"} {
		for i := range 3 {
			r := &core.Resource{Project: p, Kind: core.KindBucket, Name: "b", StackName: fmt.Sprintf("s%d", i), Version: 1}
			if err := s.PutResource(ctx, r, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, cur, err := s.ListResources(ctx, "p1", core.Page{Limit: 1})
	if err != nil || cur == "" {
		t.Fatalf("ListResources(Limit 1) = cursor %q, %v; want a cursor", cur, err)
	}
	for _, c := range []string{"%%%", "bm90IGpzb24", cur} {
		if _, _, err := s.ListResources(ctx, "p2", core.Page{Limit: 1, Cursor: c}); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("ListResources(p2, cursor %q) error = %v, want ErrInvalid", c, err)
		}
		if _, _, err := s.ListOperations(ctx, "p2", core.Page{Limit: 1, Cursor: c}); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("ListOperations(p2, cursor %q) error = %v, want ErrInvalid", c, err)
		}
	}
}

// TestPurgeQueriesOnlyOld: a purge reads the old part of the project's
// index partition through a key condition, page by page, and nothing when
// nothing is old; it deletes item by item, never scans.
func TestPurgeQueriesOnlyOld(t *testing.T) {
	dynamostore.SetPurgePage(t, 2)
	rec := &recorder{}
	client := dynalitetest.Client(dynalitetest.Start(t), rec.use)
	s := newStore(t, client, nil)
	ctx := t.Context()
	cutoff := base.Add(time.Hour)
	for i := range 20 {
		putOperation(t, s, operationAt("p1", cutoff.Add(time.Duration(i)*time.Second), core.OpSucceeded))
	}
	for i := range 5 {
		st := core.OpFailed
		if i%2 == 1 {
			st = core.OpRunning
		}
		putOperation(t, s, operationAt("p1", base.Add(time.Duration(i)*time.Second), st))
	}

	rec.reset()
	n, err := s.PurgeOperations(ctx, "p1", cutoff, 0)
	if err != nil || n != 3 {
		t.Fatalf("PurgeOperations = %d, %v; want 3, nil", n, err)
	}
	var queries, deletes int
	for _, r := range rec.requests() {
		switch r.op {
		case "Query":
			queries++
			if r.index != dynamostore.IndexName || !strings.Contains(r.keyCond, "<") || r.projection == "" {
				t.Errorf("a purge queried index %q with key condition %q, projection %q; want %q, a range on the sort key, a projection",
					r.index, r.keyCond, r.projection, dynamostore.IndexName)
			}
		case "DeleteItem":
			deletes++
		default:
			t.Errorf("a purge made a %s request", r.op)
		}
	}
	// 5 old entries in pages of 2 take 3 Queries (4 if the stand-in
	// cannot tell that the last full page is the last); reading the 20
	// young ones too would take 13.
	if queries < 3 || queries > 4 {
		t.Errorf("a purge of 5 old entries in pages of 2 made %d Queries, want 3 or 4", queries)
	}
	if deletes != 3 {
		t.Errorf("a purge of 3 ended copies made %d DeleteItem requests, want 3", deletes)
	}

	rec.reset()
	if n, err := s.PurgeOperations(ctx, "p1", base, 0); err != nil || n != 0 {
		t.Fatalf("PurgeOperations(nothing old) = %d, %v; want 0, nil", n, err)
	}
	if reqs := rec.requests(); len(reqs) != 1 || reqs[0].op != "Query" {
		t.Errorf("a purge with nothing old made %v, want one Query", reqs)
	}
}

// TestPurgeSkipsChangedCopy: a copy rewritten between the purge's read of
// the index and its delete is left for the next purge, and not counted.
func TestPurgeSkipsChangedCopy(t *testing.T) {
	endpoint := dynalitetest.Start(t)
	rec := &recorder{}
	s, table := newStoreTable(t, dynalitetest.Client(endpoint, rec.use))
	// A second Store on the same table, whose requests the hook ignores.
	other, err := dynamostore.New(dynalitetest.Client(endpoint), table, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	a := operationAt("p1", base, core.OpSucceeded)
	b := operationAt("p1", base.Add(time.Second), core.OpFailed)
	putOperation(t, s, a)
	putOperation(t, s, b)

	var once sync.Once
	rec.setBefore(func(r request) {
		if r.op == "DeleteItem" {
			once.Do(func() {
				newer := a.Clone()
				newer.Rev = 2
				newer.Error = "rewritten"
				if err := other.PutOperation(ctx, newer); err != nil {
					t.Error(err)
				}
			})
		}
	})
	n, err := s.PurgeOperations(ctx, "p1", base.Add(time.Hour), 0)
	if err != nil || n != 1 {
		t.Fatalf("PurgeOperations with a copy rewritten meanwhile = %d, %v; want 1, nil", n, err)
	}
	got, err := s.GetOperation(ctx, a.ID)
	if err != nil || got.Rev != 2 {
		t.Fatalf("the rewritten copy = %+v, %v; want it kept at rev 2", got, err)
	}
	if _, err := s.GetOperation(ctx, b.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("GetOperation of the purged copy error = %v, want ErrNotFound", err)
	}
	rec.setBefore(nil)
	if n, err := s.PurgeOperations(ctx, "p1", base.Add(time.Hour), 0); err != nil || n != 1 {
		t.Errorf("the next PurgeOperations = %d, %v; want 1, nil", n, err)
	}
}

// TestErrorKinds: DynamoDB's error answers map onto core's kinds, and the
// SDK's error stays in the chain.
func TestErrorKinds(t *testing.T) {
	cases := []struct {
		status int
		typ    string
		want   error
	}{
		{400, "ProvisionedThroughputExceededException", core.ErrThrottled},
		{400, "ThrottlingException", core.ErrThrottled},
		{400, "RequestLimitExceeded", core.ErrThrottled},
		{500, "InternalServerError", core.ErrUnavailable},
		{503, "ServiceUnavailable", core.ErrUnavailable},
		{400, "ConditionalCheckFailedException", core.ErrConflict},
		{400, "ValidationException", core.ErrInvalid},
		{400, "ResourceNotFoundException", core.ErrInternal},
		{400, "AccessDeniedException", core.ErrInternal},
	}
	for _, tc := range cases {
		t.Run(tc.typ, func(t *testing.T) {
			client := dynalitetest.Client("http://dynamodb.invalid", func(o *dynamodb.Options) {
				o.HTTPClient = answer(tc.status, tc.typ)
			})
			s, err := dynamostore.New(client, "t", nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.GetResource(t.Context(), core.ResourceKey{Project: "p", StackName: "s"})
			if !errors.Is(err, tc.want) {
				t.Errorf("error = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.typ) {
				t.Errorf("error %q lost the cause %s", err, tc.typ)
			}
		})
	}
	t.Run("no answer", func(t *testing.T) {
		// A port nothing listens on: dynalite started and stopped.
		client := dynalitetest.Client("http://127.0.0.1:1")
		s, err := dynamostore.New(client, "t", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetProject(t.Context(), "p"); !errors.Is(err, core.ErrUnavailable) || !core.Retryable(err) {
			t.Errorf("error = %v, want ErrUnavailable", err)
		}
	})
	t.Run("missing table", func(t *testing.T) {
		client := dynalitetest.Client(dynalitetest.Start(t))
		s, err := dynamostore.New(client, "no-such-table", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetProject(t.Context(), "p"); !errors.Is(err, core.ErrInternal) {
			t.Errorf("error = %v, want ErrInternal", err)
		}
	})
}

// TestCreateTableIdempotent: creating an existing table leaves it and its
// items alone.
func TestCreateTableIdempotent(t *testing.T) {
	client := dynalitetest.Client(dynalitetest.Start(t))
	s, table := newStoreTable(t, client)
	ctx := t.Context()
	if err := s.PutProject(ctx, &core.Project{ID: "p1"}); err != nil {
		t.Fatal(err)
	}
	if err := dynamostore.CreateTable(ctx, client, table); err != nil {
		t.Fatalf("CreateTable of an existing table: %v", err)
	}
	if _, err := s.GetProject(ctx, "p1"); err != nil {
		t.Errorf("GetProject after CreateTable again: %v", err)
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := dynamostore.New(nil, "t", nil); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("New(nil client) error = %v, want ErrInvalid", err)
	}
	if _, err := dynamostore.New(dynalitetest.Client("http://127.0.0.1:1"), "", nil); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("New(empty table) error = %v, want ErrInvalid", err)
	}
}

// ---- helpers ----

var base = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

func newStore(tb testing.TB, client *dynamodb.Client, opts *dynamostore.Options) *dynamostore.Store {
	tb.Helper()
	s, err := dynamostore.New(client, dynalitetest.CreateTable(tb, client), opts)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func newStoreTable(tb testing.TB, client *dynamodb.Client) (*dynamostore.Store, string) {
	tb.Helper()
	table := dynalitetest.CreateTable(tb, client)
	s, err := dynamostore.New(client, table, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s, table
}

func rawItem(t *testing.T, client *dynamodb.Client, table, pk, sk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := client.GetItem(t.Context(), &dynamodb.GetItemInput{
		TableName: aws.String(table),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: pk},
			"sk": &types.AttributeValueMemberS{Value: sk},
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

func operationAt(project string, at time.Time, st core.OpStatus) *core.Operation {
	id := ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String()
	return &core.Operation{ID: id, Project: project, StackName: "bd-" + project + "-bucket-a", RequestedAt: at, Status: st, Rev: 1}
}

func putOperation(t *testing.T, s *dynamostore.Store, op *core.Operation) {
	t.Helper()
	if err := s.PutOperation(t.Context(), op); err != nil {
		t.Fatal(err)
	}
}

func ids(cs []*core.Connection) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// recorder is an HTTP client that records the DynamoDB operation (from
// the X-Amz-Target header) and the index of every request it sends.
type recorder struct {
	mu   sync.Mutex
	reqs []request
	next dynamodb.HTTPClient // the client's own, set by use
	// before, if set, is called with each request before it is sent.
	before func(request)
}

type request struct {
	op         string // "Query", "Scan", ...
	index      string
	keyCond    string // a Query's KeyConditionExpression
	projection string // a read's ProjectionExpression
}

// use puts r in front of the client's HTTP client.
func (r *recorder) use(o *dynamodb.Options) {
	r.next = o.HTTPClient
	o.HTTPClient = r
}

// Do records the request and sends it.
func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	op := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	var body struct{ IndexName, KeyConditionExpression, ProjectionExpression string }
	if req.Body != nil {
		data, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(data))
		json.Unmarshal(data, &body) // a body we cannot read records no index
	}
	rq := request{op: op, index: body.IndexName, keyCond: body.KeyConditionExpression, projection: body.ProjectionExpression}
	r.mu.Lock()
	r.reqs = append(r.reqs, rq)
	before := r.before
	r.mu.Unlock()
	if before != nil {
		before(rq)
	}
	return r.next.Do(req)
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.reqs = nil
	r.mu.Unlock()
}

func (r *recorder) setBefore(fn func(request)) {
	r.mu.Lock()
	r.before = fn
	r.mu.Unlock()
}

func (r *recorder) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

func (r *recorder) count(op string) int {
	n := 0
	for _, req := range r.requests() {
		if req.op == op {
			n++
		}
	}
	return n
}

// answer returns an HTTP client that answers every request with a
// DynamoDB error of type typ, as DynamoDB's JSON protocol shapes it.
func answer(status int, typ string) answerer { return answerer{status: status, typ: typ} }

type answerer struct {
	status int
	typ    string
}

func (a answerer) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	body := fmt.Sprintf(`{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"injected %s"}`, a.typ, a.typ)
	return &http.Response{
		StatusCode: a.status,
		Status:     http.StatusText(a.status),
		Header: http.Header{
			"Content-Type":     {"application/x-amz-json-1.0"},
			"X-Amzn-Requestid": {"test"},
		},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}
