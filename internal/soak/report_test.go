package soak

import (
	"strings"
	"testing"
	"time"

	"bucketdesk/internal/cloud/simcloud"
)

func sampleReport() *Report {
	ops := []Op{
		{ID: "01A", Action: ActionCreate, Name: "soak-ab12-0-0", Before: 404, Status: "succeeded"},
		{ID: "01B", Action: ActionUpdate, Name: "soak-ab12-0-0", Before: 200, BeforeState: "ready CREATE_COMPLETE", Status: "succeeded"},
		{ID: "01C", Action: ActionDelete, Name: "soak-ab12-0-0", Before: 200, BeforeState: "ready UPDATE_COMPLETE", Status: "succeeded"},
		{ID: "01D", Action: ActionCreate, Name: "soak-ab12-0-0", Before: 404, Status: "failed", Error: "AlreadyExistsException: Stack [bd-demo--b-soak-ab12-0-0] already exists", Accepted: 1500 * time.Millisecond},
		{ID: "01E", Action: ActionUpdate, Name: "soak-ab12-1-0", Before: 200, BeforeState: "ready CREATE_COMPLETE", Status: "failed", Error: "ValidationError: Stack [x] does not exist | with a pipe\nand a newline"},
		{ID: "01F", Action: ActionDelete, Name: "soak-ab12-1-1", Before: 200, Status: "running"},
		{ID: "01G", Action: ActionDelete, Name: "soak-ab12-1-2", Before: 200, Status: "running", Gone: true},
	}
	return &Report{
		RunID: "ab12", Bin: "bin/bucketdesk", ServerArgs: []string{"--reconcile-every", "10s"},
		Churn:   ChurnOptions{Project: "demo", RunID: "ab12", Clients: 2, Names: 3, Seed: 7, DeleteProb: 0.5, Pause: 20 * time.Millisecond},
		Planned: time.Minute, Churned: time.Minute, Drain: 2 * time.Second, DrainLeft: 2, SettleWait: 12 * time.Second,
		DataDir: "/tmp/x", LogPath: "/tmp/x/" + LogName, ServerExit: "exited 0, 0.2 s after SIGTERM",
		Results: Results{
			Requests: map[string]map[int]int{
				ActionGet:    {200: 10, 404: 4},
				ActionCreate: {202: 2, 409: 1},
				ActionUpdate: {202: 2, 409: 3},
				ActionDelete: {202: 3, 0: 1},
			},
			Refusals: []Refusal{
				{Action: ActionUpdate, Status: 409, ProblemType: ProblemLocked, Count: 3, Example: "locked by create", Expected: true},
				{Action: ActionCreate, Status: 409, ProblemType: ProblemConflict, Count: 1, Example: `bucket "soak-ab12-0-1" already exists`},
			},
			Findings: []Finding{
				{At: 3 * time.Second, Kind: "probe: create refused as existing right after GET 404", Action: ActionCreate, Name: "soak-ab12-0-1", Status: 409, ProblemType: ProblemConflict, Detail: "already exists"},
				{At: 4 * time.Second, Kind: "transport", Action: ActionDelete, Name: "soak-ab12-0-2", Detail: "connection refused"},
			},
			Unexpected: 2,
			Ops:        ops,
		},
		Comparison: &FileComparison{Comparison: &Comparison{Checked: 7, Live: 3, Absent: 4, Mismatches: []Mismatch{
			{Name: "soak-ab12-1-0", StackName: "bd-demo--b-soak-ab12-1-0", Cache: "ready CREATE_COMPLETE [aaaa]", Sandbox: "no live stack", Problem: "the cache shows a resource CloudFormation does not have"},
		}}, SandboxStats: simcloud.Stats{Stacks: 3}},
		Samples: []Sample{
			{At: 0, Phase: "start", Data: mb, Disk: mb / 2, RSS: 20 * mb},
			{At: 30 * time.Second, Phase: "churn", Accepted: 4, Data: 2 * mb, Disk: mb, RSS: 30 * mb},
			{At: 60 * time.Second, Phase: PhaseEndOfChurn, Accepted: 7, Data: 2 * mb, Disk: mb, RSS: 31 * mb},
		},
	}
}

func TestReportCounts(t *testing.T) {
	r := sampleReport()
	c := r.Counts()
	want := Counts{Succeeded: 3, Failed: 2, NotEnded: 1, Gone: 1, Answers: 2, Unexpected: 6, Mismatches: 1}
	if c != want {
		t.Fatalf("counts %+v, want %+v", c, want)
	}
	if r.OK() {
		t.Error("a report with failures is not OK")
	}
	r.Comparison = nil
	if r.Counts().Mismatches != 1 {
		t.Error("a comparison that could not be made counts as a mismatch")
	}

	clean := &Report{Comparison: &FileComparison{Comparison: &Comparison{Checked: 1}},
		Results: Results{Ops: []Op{{Action: ActionCreate, Status: "succeeded"}}}}
	if !clean.OK() {
		t.Errorf("clean report not OK: %+v", clean.Counts())
	}
}

func TestReportMarkdown(t *testing.T) {
	md := sampleReport().Markdown()
	for _, want := range []string{
		"# bucketdesk soak — run ab12",
		"**FAIL: 6 unexpected outcomes, 1 cache/sandbox mismatches**",
		"| request | total | transport error | 200 | 202 | 404 | 409 |",
		"| GET bucket | 14 | 0 | 10 | 0 | 4 | 0 |",
		"| DELETE | 4 | 1 | 0 | 3 | 0 | 0 |",
		"| action | accepted | succeeded | failed | not ended | unknown (404) |",
		"| create | 2 | 1 | 1 | 0 | 0 |",
		"| delete | 3 | 1 | 0 | 1 | 1 |",
		"| **all** | **7** | **3** | **2** | **1** | **1** |",
		"| PUT (update tags) | 409 | `urn:bucketdesk:problem:locked` | 3 | yes |",
		"| POST (create) | 409 | `urn:bucketdesk:problem:conflict` | 1 | **no** |",
		"## Unexpected outcomes (target 0): 6",
		"| AlreadyExists | 1 | 0 | 0 | 1 |",
		"| does not exist | 0 | 1 | 0 | 1 |",
		"| GET 404, then the create failed: the stack already exists in CloudFormation | 1 |",
		"| create refused as existing right after GET 404 | 1 |",
		"| 1.5 | create | soak-ab12-0-0 | 404 | AlreadyExists |",
		`does not exist \| with a pipe and a newline`,
		"| 0.0 | delete | soak-ab12-1-2 | `01G` | 404 (running before) |",
		"**Mismatches: 1.**",
		"| soak-ab12-1-0 | ready CREATE_COMPLETE [aaaa] | no live stack |",
		"| 60 | end of churn | 7 | 0.0 | 0.0 | 2.0 | 1.0 | 31.0 |",
		"+1.0 MB in the first half, +0.0 MB in the second",
		"## Sandbox statistics",
		"stopped with 2 operations not ended",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// Every table row has as many cells as its header.
	var cols int
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			cols = 0
			continue
		}
		n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|")
		if cols == 0 {
			cols = n
		} else if n != cols {
			t.Errorf("row with %d separators under a header with %d: %s", n, cols, line)
		}
	}
	if t.Failed() {
		t.Log(md)
	}
}

func TestReportPassAndNoComparison(t *testing.T) {
	r := &Report{RunID: "cd34", Churn: ChurnOptions{Clients: 1, Names: 1},
		Comparison: &FileComparison{Comparison: &Comparison{Checked: 1, Absent: 1}},
		Results:    Results{Ops: []Op{{Action: ActionCreate, Status: "succeeded"}}, Requests: map[string]map[int]int{}}}
	md := r.Markdown()
	if !strings.Contains(md, "**PASS: 0 unexpected outcomes, 0 cache/sandbox mismatches**") || strings.Contains(md, "### Failed") {
		t.Errorf("pass report:\n%s", md)
	}
	r.Comparison, r.CompareErr = nil, "boltstore: open: file locked"
	if md := r.Markdown(); !strings.Contains(md, "could not be made: boltstore: open: file locked") || !strings.Contains(md, "FAIL") {
		t.Errorf("no comparison:\n%s", md)
	}
}

func TestCellAndClip(t *testing.T) {
	if got := cell("a|b\nc`d"); got != `a\|b c'd` {
		t.Errorf("cell %q", got)
	}
	if got := clip("ééé", 3); got != "é…" {
		t.Errorf("clip %q", got)
	}
}
