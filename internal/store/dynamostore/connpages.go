package dynamostore

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"bucketdesk/internal/core"
)

var _ core.ConnectionPager = (*Store)(nil)

// DefaultConnectionPage is the page size of ConnectionPages when the
// caller names none: a connection item is a few hundred bytes, so a page
// is far below the 1 MB a Query returns at most.
const DefaultConnectionPage = 100

// ConnectionPages reads the project's connections from the index one
// Query per page (Limit size, ExclusiveStartKey the previous page's
// LastEvaluatedKey) and calls page with each page's unexpired ones before
// it reads the next. DynamoDB applies Limit before the expiry filter, so a
// page may hold fewer than size connections, or none; the pages end when a
// Query returns no LastEvaluatedKey.
func (s *Store) ConnectionPages(ctx context.Context, project string, now time.Time, size int, page func([]*core.Connection) error) error {
	what := "list connections of " + project
	in, err := s.connectionsQuery(project, now)
	if err != nil {
		return err
	}
	if size <= 0 {
		size = DefaultConnectionPage
	}
	in.Limit = aws.Int32(int32(min(size, 1<<30)))
	for {
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return wrap(what, err)
		}
		cs, err := decodeDocs[core.Connection](what, out.Items)
		if err != nil {
			return err
		}
		if err := page(cs); err != nil {
			return err
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
