package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"bucketdesk/internal/core"
)

// Request kinds of the churn.
const (
	ActionGet    = "get"
	ActionCreate = "create"
	ActionUpdate = "update"
	ActionDelete = "delete"
)

// ChurnOptions configure the clients.
type ChurnOptions struct {
	// Project is the project the buckets are made in ("demo").
	Project string
	// RunID makes this run's bucket names unique (bucket names are global).
	RunID string
	// Clients is the number of concurrent clients, Names the bucket names
	// each cycles through.
	Clients, Names int
	// Seed seeds each client's choice between update and delete.
	Seed uint64
	// DeleteProb is the probability that an existing bucket is deleted
	// rather than updated.
	DeleteProb float64
	// Pause is a client's wait after each request.
	Pause time.Duration
}

// BucketName is the i-th name of client c in run.
func BucketName(run string, c, i int) string { return fmt.Sprintf("soak-%s-%d-%d", run, c, i) }

// AllNames lists every bucket name of the churn.
func (o ChurnOptions) AllNames() []string {
	var out []string
	for c := range o.Clients {
		for i := range o.Names {
			out = append(out, BucketName(o.RunID, c, i))
		}
	}
	return out
}

// Op is one accepted operation and what became of it.
type Op struct {
	ID     string
	Action string
	Name   string
	// Before is the status of the GET that led to the request (200, 404).
	Before int
	// BeforeState is what that GET showed: phase and stack status.
	BeforeState string
	Accepted    time.Duration // since the start of the run

	// Filled in by the tracker.
	Status string // last status read
	Error  string
	Gone   bool // the last read answered 404
}

// Outcome is the op's outcome for the report.
func (o *Op) Outcome() string { return Outcome(o.Status, o.Gone) }

// Finding is one unexpected answer or event, listed in the report.
type Finding struct {
	At          time.Duration
	Kind        string // "5xx", "4xx", "transport", "probe", "server"
	Action      string
	Name        string
	Status      int
	ProblemType string
	Detail      string
}

type reqKey struct {
	Action string
	Status int // 0: transport error
}

type refusalKey struct {
	Action      string
	Status      int
	ProblemType string
	Expected    bool
}

// Refusal counts the requests of one action answered with one status and
// problem type (a 4xx or 5xx), with one detail as an example.
type Refusal struct {
	Action      string
	Status      int
	ProblemType string
	Count       int
	Example     string
	Expected    bool
}

// maxFindings bounds the findings kept (all are counted).
const maxFindings = 200

// Recorder collects what the churn saw. It is safe for concurrent use.
type Recorder struct {
	start    time.Time
	accepted atomic.Int64

	mu         sync.Mutex
	requests   map[reqKey]int
	refusals   map[refusalKey]*Refusal
	findings   []Finding
	unexpected int // findings counted, kept or not
	ops        []*Op
	pending    map[string]*Op
}

// NewRecorder starts recording at start.
func NewRecorder(start time.Time) *Recorder {
	return &Recorder{start: start, requests: map[reqKey]int{}, refusals: map[refusalKey]*Refusal{}, pending: map[string]*Op{}}
}

// Accepted is the number of operations accepted so far.
func (r *Recorder) Accepted() int64 { return r.accepted.Load() }

func (r *Recorder) since() time.Duration { return time.Since(r.start).Truncate(time.Millisecond) }

// Prior is what the GET before a write said of the name.
type Prior struct {
	Status int    // 200 or 404; 0 for the GET itself
	State  string // phase, stack status and lock, for the report
	// Deleting is set when a delete was in progress: an update or delete
	// may then find the name gone.
	Deleting bool
}

// answer records one churn request's answer and returns whether it was
// expected.
func (r *Recorder) answer(action, name string, prior Prior, ans Answer) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ans.Err != nil {
		r.requests[reqKey{action, 0}]++
		r.find(Finding{At: r.since(), Kind: "transport", Action: action, Name: name, Detail: ans.Err.Error()})
		return false
	}
	r.requests[reqKey{action, ans.Status}]++
	expected := ExpectedAnswer(action, ans.Status, ans.Problem.Type, prior.Deleting)
	if ans.Status >= 400 && !(action == ActionGet && ans.Status == http.StatusNotFound) {
		k := refusalKey{action, ans.Status, ans.Problem.Type, expected}
		ref := r.refusals[k]
		if ref == nil {
			ref = &Refusal{Action: action, Status: ans.Status, ProblemType: ans.Problem.Type, Example: ans.Problem.Detail, Expected: expected}
			r.refusals[k] = ref
		}
		ref.Count++
	}
	if expected {
		return true
	}
	kind := "4xx"
	switch {
	case ans.Status >= 500:
		kind = "5xx"
	case ans.Status < 400:
		kind = "other"
	}
	if p := Probe(action, prior.Status, ans.Status, ans.Problem.Type, ans.Problem.Detail); p != "" {
		kind = "probe: " + p
	}
	detail := ans.Problem.Detail
	if prior.Status != 0 {
		detail = fmt.Sprintf("%s (the GET before: %d %s)", detail, prior.Status, prior.State)
	}
	r.find(Finding{At: r.since(), Kind: kind, Action: action, Name: name, Status: ans.Status, ProblemType: ans.Problem.Type, Detail: detail})
	return false
}

// Note records a finding that is not an answer (the server exited).
func (r *Recorder) Note(f Finding) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f.At = r.since()
	r.find(f)
}

func (r *Recorder) find(f Finding) {
	r.unexpected++
	if len(r.findings) < maxFindings {
		r.findings = append(r.findings, f)
	}
}

func (r *Recorder) accept(op *Op) {
	r.mu.Lock()
	defer r.mu.Unlock()
	op.Accepted = r.since()
	r.ops = append(r.ops, op)
	r.pending[op.ID] = op
	r.accepted.Add(1)
}

// Pending returns the accepted operations not known to have ended, oldest
// first.
func (r *Recorder) Pending() []*Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Op, 0, len(r.pending))
	for _, op := range r.pending {
		out = append(out, op)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// observe records one read of an operation.
func (r *Recorder) observe(op *Op, status, errText string, gone bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	op.Gone = gone
	if !gone {
		op.Status, op.Error = status, errText
	}
	if core.OpStatus(op.Status).Terminal() {
		delete(r.pending, op.ID)
	}
}

// Results is a snapshot of what was recorded.
type Results struct {
	Requests   map[string]map[int]int // action → status → count (0: transport error)
	Refusals   []Refusal
	Findings   []Finding
	Unexpected int // answers and events found unexpected (findings, kept or not)
	Ops        []Op
}

// Results returns a snapshot.
func (r *Recorder) Results() Results {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := Results{Requests: map[string]map[int]int{}, Unexpected: r.unexpected}
	for k, n := range r.requests {
		if res.Requests[k.Action] == nil {
			res.Requests[k.Action] = map[int]int{}
		}
		res.Requests[k.Action][k.Status] += n
	}
	for _, ref := range r.refusals {
		res.Refusals = append(res.Refusals, *ref)
	}
	sort.Slice(res.Refusals, func(i, j int) bool {
		a, b := res.Refusals[i], res.Refusals[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return fmt.Sprint(a.Action, a.Status, a.ProblemType, a.Expected) < fmt.Sprint(b.Action, b.Status, b.ProblemType, b.Expected)
	})
	res.Findings = append(res.Findings, r.findings...)
	for _, op := range r.ops {
		res.Ops = append(res.Ops, *op)
	}
	return res
}

// Churn runs the clients until stop is closed (or ctx ends); requests use
// ctx, so that a request under way when stop closes still completes and is
// recorded. It returns when every client has stopped.
func Churn(ctx context.Context, stop <-chan struct{}, api *API, o ChurnOptions, rec *Recorder) {
	var wg sync.WaitGroup
	for c := range o.Clients {
		wg.Go(func() {
			cl := &client{api: api, o: o, rec: rec, c: c,
				rng: rand.New(rand.NewPCG(o.Seed, uint64(c)+1))}
			cl.run(ctx, stop)
		})
	}
	wg.Wait()
}

type client struct {
	api *API
	o   ChurnOptions
	rec *Recorder
	c   int
	rng *rand.Rand
	rev int
}

func stopped(ctx context.Context, stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

func (cl *client) pause(ctx context.Context, stop <-chan struct{}, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-stop:
	case <-ctx.Done():
	}
}

func (cl *client) run(ctx context.Context, stop <-chan struct{}) {
	for i := 0; !stopped(ctx, stop); i++ {
		name := BucketName(cl.o.RunID, cl.c, i%cl.o.Names)
		path := "/api/projects/" + url.PathEscape(cl.o.Project) + "/buckets/" + url.PathEscape(name)
		get := cl.api.Do(ctx, http.MethodGet, path, nil)
		if !cl.rec.answer(ActionGet, name, Prior{}, get) {
			// A transport error or a 5xx: do not spin on a failing server.
			cl.pause(ctx, stop, max(cl.o.Pause, 100*time.Millisecond))
			continue
		}
		cl.pause(ctx, stop, cl.o.Pause)
		if stopped(ctx, stop) {
			return
		}
		var (
			action string
			ans    Answer
			prior  = Prior{Status: get.Status}
		)
		switch get.Status {
		case http.StatusNotFound:
			action, prior.State = ActionCreate, "absent"
			cl.rev++
			ans = cl.api.Do(ctx, http.MethodPost, "/api/projects/"+url.PathEscape(cl.o.Project)+"/buckets", cl.spec(name))
		default:
			var r core.Resource
			_ = json.Unmarshal(get.Body, &r)
			prior.State = strings.TrimSpace(string(r.Observed.Phase) + " " + r.Observed.StackStatus)
			if r.Lock != nil {
				prior.State += " (locked: " + string(r.Lock.Action) + ")"
			}
			prior.Deleting = r.Observed.Phase == core.PhaseDeleting || r.Lock != nil && r.Lock.Action == core.ActionDelete
			// A failed resource is deleted: an update would be refused
			// (delete it, then create it again) and is no news.
			if r.Observed.Phase == core.PhaseFailed || cl.rng.Float64() < cl.o.DeleteProb {
				action = ActionDelete
				ans = cl.api.Do(ctx, http.MethodDelete, path, nil)
			} else {
				action = ActionUpdate
				cl.rev++
				ans = cl.api.Do(ctx, http.MethodPut, path, cl.spec(name))
			}
		}
		if cl.rec.answer(action, name, prior, ans) && ans.Status == http.StatusAccepted {
			var op core.Operation
			if err := json.Unmarshal(ans.Body, &op); err != nil || op.ID == "" {
				cl.rec.Note(Finding{Kind: "other", Action: action, Name: name, Status: ans.Status, Detail: "202 without an operation id"})
			} else {
				cl.rec.accept(&Op{ID: op.ID, Action: action, Name: name, Before: get.Status, BeforeState: prior.State})
			}
		}
		if ans.Err != nil || ans.Status >= 500 {
			cl.pause(ctx, stop, max(cl.o.Pause, 100*time.Millisecond))
			continue
		}
		cl.pause(ctx, stop, cl.o.Pause)
	}
}

// spec is a small valid BucketSpec with a tag that changes on every write.
func (cl *client) spec(name string) map[string]any {
	return map[string]any{
		"name":       name,
		"encryption": map[string]string{"type": core.EncryptionS3},
		"tags":       map[string]string{"soak-run": cl.o.RunID, "rev": fmt.Sprint(cl.rev)},
	}
}

// Track reads every pending operation once (a few at a time) and records
// what it learns.
func Track(ctx context.Context, api *API, rec *Recorder, parallel int) {
	ops := rec.Pending()
	ch := make(chan *Op)
	var wg sync.WaitGroup
	for range max(parallel, 1) {
		wg.Go(func() {
			for op := range ch {
				ans := api.Do(ctx, http.MethodGet, "/api/operations/"+url.PathEscape(op.ID), nil)
				switch {
				case ans.Err != nil || ans.Status >= 500:
					// Try again next round.
				case ans.Status == http.StatusNotFound:
					rec.observe(op, "", "", true)
				case ans.Status == http.StatusOK:
					var got core.Operation
					if err := json.Unmarshal(ans.Body, &got); err == nil {
						rec.observe(op, string(got.Status), got.Error, false)
					}
				}
			}
		})
	}
	for _, op := range ops {
		select {
		case ch <- op:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(ch)
	wg.Wait()
}

// TrackUntil tracks pending operations every interval until stop closes
// (or ctx ends).
func TrackUntil(ctx context.Context, stop <-chan struct{}, api *API, rec *Recorder, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			Track(ctx, api, rec, 4)
		}
	}
}

// Drain tracks pending operations until none is left or ctx ends (the
// drain deadline); it returns how many were still pending.
func Drain(ctx context.Context, api *API, rec *Recorder, every time.Duration) int {
	for {
		Track(ctx, api, rec, 4)
		n := len(rec.Pending())
		if n == 0 || ctx.Err() != nil {
			return n
		}
		select {
		case <-ctx.Done():
			return len(rec.Pending())
		case <-time.After(every):
		}
	}
}
