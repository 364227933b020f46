package dynamostore_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/store/dynamostore/dynalitetest"
)

// ConnectionPages reads a project's connections one Query of the index
// per page, at most size per page, every unexpired connection once, none
// of another project's, and stops when the caller's function fails.
func TestConnectionPages(t *testing.T) {
	rec := &recorder{}
	client := dynalitetest.Client(dynalitetest.Start(t), rec.use)
	s := newStore(t, client, nil)
	ctx := t.Context()
	var want []string
	for i := range 25 {
		id := fmt.Sprintf("c%02d", i)
		c := &core.Connection{ID: id, User: "u", Projects: []string{"p1"}, ConnectedAt: base, ExpiresAt: base.Add(time.Hour)}
		switch {
		case i%10 == 3: // expired: read by the Query, filtered out
			c.ExpiresAt = base.Add(-time.Second)
		case i%10 == 7: // another project's too
			c.Projects = []string{"p1", "p2"}
			want = append(want, id)
		default:
			want = append(want, id)
		}
		if err := s.PutConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := s.PutConnection(ctx, &core.Connection{ID: "other-" + id, User: "u", Projects: []string{"p2"}, ConnectedAt: base, ExpiresAt: base.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}

	rec.reset()
	var got []string
	var sizes []int
	err := s.ConnectionPages(ctx, "p1", base, 10, func(cs []*core.Connection) error {
		sizes = append(sizes, len(cs))
		for _, c := range cs {
			got = append(got, c.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("connections = %v, want %v", got, want)
	}
	// 25 items by 10: three Queries; the expired ones (c03, c13, c23) are
	// filtered out of their pages.
	if !slices.Equal(sizes, []int{9, 9, 4}) {
		t.Errorf("page sizes = %v, want [9 9 4]", sizes)
	}
	if n, q := len(rec.requests()), rec.count("Query"); n != 3 || q != 3 {
		t.Errorf("pages made %d requests, %d of them Query; want 3 Queries", n, q)
	}

	// The caller stops the reading: no more Queries.
	rec.reset()
	stop := errors.New("enough")
	pages := 0
	err = s.ConnectionPages(ctx, "p1", base, 10, func([]*core.Connection) error {
		pages++
		return stop
	})
	if !errors.Is(err, stop) || pages != 1 || rec.count("Query") != 1 {
		t.Errorf("stopped reading: err %v, pages %d, Queries %d; want %v, 1, 1", err, pages, rec.count("Query"), stop)
	}

	// No connections: one empty page.
	pages = 0
	if err := s.ConnectionPages(ctx, "nobody", base, 0, func(cs []*core.Connection) error {
		pages++
		if len(cs) != 0 {
			t.Errorf("connections of nobody: %d", len(cs))
		}
		return nil
	}); err != nil || pages != 1 {
		t.Errorf("pages of a project without connections: %d, %v; want 1, nil", pages, err)
	}
	if err := s.ConnectionPages(ctx, "", base, 0, func([]*core.Connection) error { return nil }); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("empty project: %v, want ErrInvalid", err)
	}
}
