package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/hub/apigwhub"
	"bucketdesk/internal/hub/apigwhub/apigwtest"
	"bucketdesk/internal/store/dynamostore"
	"bucketdesk/internal/store/dynamostore/dynalite"
)

// Fan-out on AWS: what the section sets up.
const (
	fanoutConnections = 1000
	fanoutLatency     = 20 * time.Millisecond // per @connections call
	fanoutGoneEvery   = 20                    // 5 % of the connections are gone
	fanoutTarget      = 300 * time.Millisecond
)

// fanoutSection measures apigwhub delivering one event to the 1,000
// connections of a project: the connections are items in DynamoDB
// (dynalite), read by pages, and the posts go through the @connections
// stand-in, each call taking 20 ms. 5 % of the connections are gone in API
// Gateway but still registered, as after clients that left without
// $disconnect: the first event finds them (410) and deletes them.
func fanoutSection(ctx context.Context, o Options) (Table, error) {
	events := 40
	if o.Quick {
		events = 6
	}
	return fanout(ctx, o.Log, fanoutConnections, events)
}

// fanout runs the section with n connections and the given number of
// events.
func fanout(ctx context.Context, log io.Writer, n, events int) (Table, error) {
	t := Table{
		Title:  fmt.Sprintf("Fan-out on AWS: one event to %s connections (apigwhub, DynamoDB pages, @connections at 20 ms per call)", thousands(n)),
		Header: []string{"Measure", "Value", "Target"},
	}
	cli, err := dynalite.CLI()
	if err != nil {
		return t, err
	}
	var (
		endpoint string
		stop     func()
	)
	for range 3 { // a free port may be taken between probing and binding
		if endpoint, stop, err = dynalite.Launch(cli); err == nil {
			break
		}
	}
	if err != nil {
		return t, err
	}
	defer stop()
	client := dynalite.Client(endpoint)
	const table = "bucketdesk-bench-fanout"
	if err := dynamostore.CreateTable(ctx, client, table); err != nil {
		return t, err
	}
	st, err := dynamostore.New(client, table, nil)
	if err != nil {
		return t, err
	}
	gw := apigwtest.Start()
	defer gw.Stop()

	fmt.Fprintf(log, "bench: fan-out: registering %d connections in DynamoDB…\n", n)
	const project = "bench-fanout"
	now := time.Now()
	ids := make([]string, n)
	for i := range ids {
		// Shaped like API Gateway's connection ids.
		ids[i] = fmt.Sprintf("Bf%012dA=", i)
		gw.Register(ids[i])
	}
	if err := fanoutRegister(ctx, st, project, ids, now); err != nil {
		return t, err
	}
	gone := 0
	for i, id := range ids {
		if i%fanoutGoneEvery == fanoutGoneEvery-1 {
			gw.Close(id)
			gone++
		}
	}
	live := n - gone

	gw.SetLatency(fanoutLatency)
	hub := apigwhub.New(gw.Client(), st, nil)
	toLast, toReturn, cpu := NewRecorder(events), NewRecorder(events), NewRecorder(events)
	var (
		pages        []int64
		short        int // events that did not reach every live connection
		goneDeleted  int
		postsToGone  int
		firstPostsTo int
	)
	fmt.Fprintf(log, "bench: fan-out: %d events to %d connections…\n", events, n)
	for e := range events {
		before := hub.Stats()
		framesBefore, _ := gw.Delivered()
		postsBefore := gw.Posts()
		msg := core.Message{Type: core.MsgResource, Project: project, Kind: core.KindBucket, Name: "data", Version: int64(e + 1),
			Resource: &core.Resource{Project: project, Kind: core.KindBucket, Name: "data", StackName: "bd-" + project + "-bucket-data", Version: int64(e + 1)}}
		cpu0 := time.Duration(rtCPU())
		start := time.Now()
		if err := hub.Publish(ctx, project, msg); err != nil {
			return t, err
		}
		returned := time.Since(start)
		cpu.Add(time.Duration(rtCPU()) - cpu0)
		frames, last := gw.Delivered()
		after := hub.Stats()
		if frames-framesBefore != live {
			short++
		}
		toLast.Add(last.Sub(start))
		toReturn.Add(returned)
		pages = append(pages, after.Pages-before.Pages)
		posts := gw.Posts() - postsBefore
		if e == 0 {
			firstPostsTo = posts
			cs, err := st.ListConnections(ctx, project, time.Now())
			if err != nil {
				return t, err
			}
			goneDeleted = n - len(cs)
		} else {
			postsToGone += posts - live
		}
	}
	s := hub.Stats()
	maxInFlight := gw.MaxInFlight()
	p99 := toLast.Percentile(99)
	pagesFirst, pagesLater := pages[0], pages[len(pages)-1]

	t.Rows = [][]string{
		{"time to the last connection, p50", Ms(toLast.Percentile(50)), ""},
		{"time to the last connection, p99", Ms(p99), fmt.Sprintf("< %s %s", Ms(fanoutTarget), mark(p99 < fanoutTarget && short == 0))},
		{"Publish returns, p50 / p99", Ms(toReturn.Percentile(50)) + " / " + Ms(toReturn.Percentile(99)), ""},
		{"CPU of this process per event (hub, SDK and stand-in), p50", Ms(cpu.Percentile(50)), ""},
		{"posts in flight, most observed (bound)", fmt.Sprintf("%d (%d)", maxInFlight, apigwhub.DefaultConcurrency), fmt.Sprintf("≤ bound %s", mark(maxInFlight <= apigwhub.DefaultConcurrency))},
		{"DynamoDB pages read per event (first, later)", fmt.Sprintf("%d, %d (of %d)", pagesFirst, pagesLater, apigwhub.DefaultPageSize), ""},
		{"gone connections (410) deleted by the first event", fmt.Sprintf("%d of %d", goneDeleted, gone), fmt.Sprintf("all %s", mark(goneDeleted == gone && s.Gone == int64(gone)))},
		{"posts to gone connections after the first event", fmt.Sprint(postsToGone), fmt.Sprintf("0 %s", mark(postsToGone == 0))},
		{"events that missed a live connection", fmt.Sprint(short), fmt.Sprintf("0 %s", mark(short == 0))},
		{"throttled (429) or failed posts", fmt.Sprintf("%d, %d", gw.Throttled(), s.Failed), fmt.Sprintf("0 %s", mark(gw.Throttled() == 0 && s.Failed == 0))},
	}
	t.Notes = append(t.Notes, fmt.Sprintf("%d events published one after another to a project of %s connections registered in DynamoDB (dynalite, tests/dynalite), %d of them (every %dth) gone in API Gateway: the first event posts to all %s (%s posts) and deletes the gone ones, the later ones post to the %s live ones. "+
		"Each @connections call through the AWS SDK to the stand-in (internal/hub/apigwhub/apigwtest) takes %s. apigwhub reads the connections by pages of %d (Query with Limit and ExclusiveStartKey; a page that ends exactly at the Limit still returns a LastEvaluatedKey, so a multiple of %d takes one more, empty, page), posting to one page while it reads the next, at most %d posts in flight: API Gateway's default throttle is 10,000 requests per second per account and Region, shared by every API, and %d posts in flight at %s each send about %s per second. "+
		"Time to the last connection runs from the Publish call to the moment the stand-in recorded the last frame; Publish returns once every post was answered. The lower bound at this latency is %d rounds × %s = %s plus the first page's read; the rest is CPU: the posts' signing and encoding by the SDK and the stand-in's handling share this process and the machine's %d cores (dynalite's own CPU, in node, is not counted), and on a busy machine its share of the cores sets the figure.",
		events, thousands(n), gone, fanoutGoneEvery, thousands(n), thousands(firstPostsTo), thousands(live),
		Ms(fanoutLatency), apigwhub.DefaultPageSize, apigwhub.DefaultPageSize, apigwhub.DefaultConcurrency,
		apigwhub.DefaultConcurrency, Ms(fanoutLatency), thousands(int(float64(apigwhub.DefaultConcurrency)/fanoutLatency.Seconds())),
		(live+apigwhub.DefaultConcurrency-1)/apigwhub.DefaultConcurrency, Ms(fanoutLatency), Ms(time.Duration((live+apigwhub.DefaultConcurrency-1)/apigwhub.DefaultConcurrency)*fanoutLatency), numCPU()))
	return t, nil
}

// fanoutRegister registers the connections of project in st, a few at a
// time.
func fanoutRegister(ctx context.Context, st *dynamostore.Store, project string, ids []string, now time.Time) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next = make(chan string)
	)
	for range 8 {
		wg.Go(func() {
			for id := range next {
				err := st.PutConnection(ctx, &core.Connection{ID: id, User: "bench", Projects: []string{project}, ConnectedAt: now, ExpiresAt: now.Add(2 * time.Hour)})
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("register %d connections: %d failed, the first: %w", len(ids), len(errs), errs[0])
	}
	return nil
}
