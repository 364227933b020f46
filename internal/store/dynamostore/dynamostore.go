// Package dynamostore implements the cache ports of core (ResourceStore,
// ProjectStore, ConnectionStore, TicketStore, AuditStore,
// ShareLinkStore) for the AWS setup: the cache
// mirror kept in one on-demand DynamoDB table, shared by every Lambda.
//
// Every state change of a resource is one conditional PutItem or
// DeleteItem on one item (the version attribute, or attribute_not_exists
// for a create), so it needs no transactions, which cost more and which
// dynalite, the local stand-in the tests run against, lacks. The adapter
// does not retry: a failed condition is core.ErrConflict, a rate limit
// core.ErrThrottled, any other transient failure core.ErrUnavailable, each
// wrapped with the SDK's error. Configure the client's own retries (the
// SDK retries throttling by default) to taste.
//
// It is not for local use, where boltstore needs no emulator; and it is
// not a general DynamoDB mapper: items hold the domain value as one JSON
// document ("doc") plus the few attributes that keys, conditions and TTL
// need, so that a field added to a domain type needs no table change, and
// an item written by a newer version (unknown fields or attributes) is
// read without error.
//
// # Table
//
// One table, billing mode PAY_PER_REQUEST, created by CreateTable (tests,
// local development) and declared the same way in the SAM template:
//
//	AttributeDefinitions: pk S, sk S, gsi1pk S, gsi1sk S
//	KeySchema:            pk HASH, sk RANGE
//	GlobalSecondaryIndexes:
//	  - IndexName: gsi1            (IndexName below)
//	    KeySchema: gsi1pk HASH, gsi1sk RANGE
//	    Projection: ALL
//	TimeToLiveSpecification: AttributeName expires_at, Enabled true
//
// Items (every item also has doc, the JSON of the domain value, and t,
// its type, for a human reading the table):
//
//	project     pk PROJECTS       sk <id>
//	resource    pk RES#<project>  sk <stack name>  version N
//	operation   pk OP#<id>        sk OP            rev N       gsi1pk OPS#<project>   gsi1sk <id>
//	connection  pk CONN#<id>      sk <project>     expires_*   gsi1pk CONNS#<project> gsi1sk <id>
//	ticket      pk TICKET#<hash>  sk TICKET        expires_*
//	audit       pk AUDIT#<project> sk <id>         expires_* (with AuditRetention), actor, action, kind, name
//	link        pk LINK#<id>      sk LINK          version N   gsi1pk LINKS#<project> gsi1sk <id>  expires_*
//
// A connection has one item per project it watches, so that the index
// finds a project's connections with one Query, never a Scan. Connection,
// ticket and link items carry expires_at (epoch seconds, rounded up: the TTL
// attribute) and expires_ns (epoch nanoseconds, which reads compare with
// the caller's now). DynamoDB deletes expired items only eventually, and
// dynalite never does, so expired items are filtered on read. Reads
// through the index are eventually consistent on AWS: a connection or an
// operation history copy may show up in a list a moment after its write.
package dynamostore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"bucketdesk/internal/core"
)

// Store implements every cache port of core.
var (
	_ core.ResourceStore   = (*Store)(nil)
	_ core.ProjectStore    = (*Store)(nil)
	_ core.ConnectionStore = (*Store)(nil)
	_ core.TicketStore     = (*Store)(nil)
)

// IndexName is the name of the table's one global secondary index, which
// finds a project's operations and connections.
const IndexName = "gsi1"

// Attribute names.
const (
	attrPK         = "pk"
	attrSK         = "sk"
	attrGSIPK      = "gsi1pk"
	attrGSISK      = "gsi1sk"
	attrType       = "t"
	attrDoc        = "doc"
	attrVersion    = "version"
	attrRev        = "rev"
	attrExpiresAt  = "expires_at" // TTL: epoch seconds
	attrExpiresNS  = "expires_ns" // epoch nanoseconds, for exact reads
	projectsPK     = "PROJECTS"
	operationSK    = "OP"
	ticketSK       = "TICKET"
	batchWriteSize = 25 // BatchWriteItem's limit
)

func resourcePK(project string) string       { return "RES#" + project }
func operationPK(id string) string           { return "OP#" + id }
func operationsGSIPK(project string) string  { return "OPS#" + project }
func connectionPK(id string) string          { return "CONN#" + id }
func connectionsGSIPK(project string) string { return "CONNS#" + project }
func ticketPK(hash string) string            { return "TICKET#" + hash }

// Options tune a Store. The zero value (or nil) means defaults.
type Options struct {
	// EventuallyConsistent makes GetProject, ListProjects, GetResource,
	// ListResources and GetOperation eventually consistent reads, which
	// cost half; conditional writes stay exact either way, a stale read
	// only makes the writer's condition fail (ErrConflict). The default is
	// strongly consistent reads. Queries of the index are always
	// eventually consistent (DynamoDB offers nothing else there).
	EventuallyConsistent bool
	// AuditRetention, when positive, gives each audit record the TTL
	// attribute of its time plus AuditRetention, so that DynamoDB deletes
	// it in time even if no purge runs; 0 sets none.
	AuditRetention time.Duration
}

// Store implements the cache ports of core on one DynamoDB table. It is
// safe for concurrent use.
type Store struct {
	client     *dynamodb.Client
	table      string
	consistent bool
	auditTTL   time.Duration
}

// New returns a Store on table through client. It makes no call: a
// missing table shows on the first request.
func New(client *dynamodb.Client, table string, opts *Options) (*Store, error) {
	if client == nil {
		return nil, fmt.Errorf("dynamostore: nil client: %w", core.ErrInvalid)
	}
	if table == "" {
		return nil, fmt.Errorf("dynamostore: empty table name: %w", core.ErrInvalid)
	}
	if opts == nil {
		opts = &Options{}
	}
	return &Store{client: client, table: table, consistent: !opts.EventuallyConsistent, auditTTL: opts.AuditRetention}, nil
}

// CreateTable creates the table as the package comment describes and waits
// until it is active, then turns TTL on. An existing table is left as it
// is. dynalite has no UpdateTimeToLive: its refusal is ignored (it never
// expires items, which reads do not rely on).
func CreateTable(ctx context.Context, client *dynamodb.Client, table string) error {
	str := func(name string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: types.ScalarAttributeTypeS}
	}
	key := func(hash, rng string) []types.KeySchemaElement {
		return []types.KeySchemaElement{
			{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(rng), KeyType: types.KeyTypeRange},
		}
	}
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{str(attrPK), str(attrSK), str(attrGSIPK), str(attrGSISK)},
		KeySchema:            key(attrPK, attrSK),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName:  aws.String(IndexName),
			KeySchema:  key(attrGSIPK, attrGSISK),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return wrap("create table "+table, err)
	}
	waiter := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 200 * time.Millisecond
		o.MaxDelay = 5 * time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 5*time.Minute); err != nil {
		return wrap("wait for table "+table, err)
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(attrExpiresAt),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil && !ttlUnsupportedOrSet(err) {
		return wrap("enable TTL on "+table, err)
	}
	return nil
}

// ttlUnsupportedOrSet tells the refusals of UpdateTimeToLive that leave the
// table usable: dynalite does not know the operation, and AWS refuses to
// enable TTL that is already enabled.
func ttlUnsupportedOrSet(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "UnknownOperationException":
		return true
	case "ValidationException":
		return ae.ErrorMessage() == "TimeToLive is already enabled"
	}
	return false
}

// ---- core.ProjectStore ----

// PutProject creates or replaces a project registration.
func (s *Store) PutProject(ctx context.Context, p *core.Project) error {
	what := "put project " + p.ID
	if err := checkID("project id", p.ID); err != nil {
		return err
	}
	item, err := docItem(projectsPK, p.ID, "project", p)
	if err != nil {
		return fmt.Errorf("dynamostore: %s: %w", what, err)
	}
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item})
	return wrap(what, err)
}

// GetProject returns ErrNotFound for an unknown id.
func (s *Store) GetProject(ctx context.Context, id string) (*core.Project, error) {
	what := "get project " + id
	if err := checkID("project id", id); err != nil {
		return nil, err
	}
	p := new(core.Project)
	if err := s.get(ctx, what, projectsPK, id, p); err != nil {
		return nil, err
	}
	return p, nil
}

// ListProjects returns every project, ordered by id. Projects share one
// partition: there are tens of them, read rarely.
func (s *Store) ListProjects(ctx context.Context) ([]*core.Project, error) {
	what := "list projects"
	items, _, err := s.query(ctx, what, s.partition(projectsPK, s.consistent), 0)
	if err != nil {
		return nil, err
	}
	ps, err := decodeDocs[core.Project](what, items)
	if err != nil {
		return nil, err
	}
	return ps, nil
}

// ---- core.ResourceStore: resources ----

// GetResource returns ErrNotFound when the item does not exist.
func (s *Store) GetResource(ctx context.Context, key core.ResourceKey) (*core.Resource, error) {
	what := "get resource " + key.Project + "/" + key.StackName
	if err := checkKey(key); err != nil {
		return nil, err
	}
	r := new(core.Resource)
	if err := s.get(ctx, what, resourcePK(key.Project), key.StackName, r); err != nil {
		return nil, err
	}
	return r, nil
}

// PutResource writes r with one PutItem whose condition is the stored
// version: version = prev, or attribute_not_exists for prev 0. A version
// not above prev is ErrInvalid, refused before any request.
func (s *Store) PutResource(ctx context.Context, r *core.Resource, prev int64) error {
	what := fmt.Sprintf("put resource %s/%s version %d", r.Project, r.StackName, r.Version)
	if err := checkKey(r.Key()); err != nil {
		return err
	}
	if prev < 0 || r.Version <= prev {
		return fmt.Errorf("dynamostore: %s: version must be greater than prev %d: %w", what, prev, core.ErrInvalid)
	}
	item, err := docItem(resourcePK(r.Project), r.StackName, "resource", r)
	if err != nil {
		return fmt.Errorf("dynamostore: %s: %w", what, err)
	}
	item[attrVersion] = number(r.Version)
	in := &dynamodb.PutItemInput{TableName: &s.table, Item: item}
	if prev == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(pk)")
	} else {
		in.ConditionExpression = aws.String("#v = :prev")
		in.ExpressionAttributeNames = map[string]string{"#v": attrVersion}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":prev": number(prev)}
	}
	_, err = s.client.PutItem(ctx, in)
	return wrap(what, err)
}

// DeleteResource removes the item if its version equals prev, with one
// conditional DeleteItem; a missing item passes the condition, so that a
// delete of a gone item is success.
func (s *Store) DeleteResource(ctx context.Context, key core.ResourceKey, prev int64) error {
	what := fmt.Sprintf("delete resource %s/%s", key.Project, key.StackName)
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 &s.table,
		Key:                       itemKey(resourcePK(key.Project), key.StackName),
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR #v = :prev"),
		ExpressionAttributeNames:  map[string]string{"#v": attrVersion},
		ExpressionAttributeValues: map[string]types.AttributeValue{":prev": number(prev)},
	})
	return wrap(what, err)
}

// ListResources returns a project's items ordered by stack name (the sort
// key, in byte order), paged by an opaque cursor.
func (s *Store) ListResources(ctx context.Context, project string, page core.Page) ([]*core.Resource, string, error) {
	what := "list resources of " + project
	if err := checkID("project", project); err != nil {
		return nil, "", err
	}
	in := s.partition(resourcePK(project), s.consistent)
	if err := setCursor(in, page.Cursor, []string{attrPK, attrSK}, attrPK, resourcePK(project)); err != nil {
		return nil, "", fmt.Errorf("dynamostore: %s: %w", what, err)
	}
	items, next, err := s.query(ctx, what, in, page.Limit)
	if err != nil {
		return nil, "", err
	}
	rs, err := decodeDocs[core.Resource](what, items)
	if err != nil {
		return nil, "", err
	}
	return rs, cursorOf(next, attrPK, attrSK), nil
}

// ListVersions reads only the sort key and version of the project's
// items (a projected Query of the same partition as ListResources).
func (s *Store) ListVersions(ctx context.Context, project string) ([]core.ItemVersion, error) {
	what := "list versions of " + project
	if err := checkID("project", project); err != nil {
		return nil, err
	}
	in := s.partition(resourcePK(project), s.consistent)
	in.ProjectionExpression = aws.String("#sk, #v")
	in.ExpressionAttributeNames["#sk"] = attrSK
	in.ExpressionAttributeNames["#v"] = attrVersion
	items, _, err := s.query(ctx, what, in, 0)
	if err != nil {
		return nil, err
	}
	vs := make([]core.ItemVersion, 0, len(items))
	for _, item := range items {
		sk, ok1 := item[attrSK].(*types.AttributeValueMemberS)
		v, ok2 := item[attrVersion].(*types.AttributeValueMemberN)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("dynamostore: %s: an item without sort key or version: %w", what, core.ErrInternal)
		}
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("dynamostore: %s: version %q: %w", what, v.Value, core.ErrInternal)
		}
		vs = append(vs, core.ItemVersion{StackName: sk.Value, Version: n})
	}
	return vs, nil
}

// ---- core.ResourceStore: operations ----

// PutOperation writes a history copy of op unless a copy with a higher Rev
// is stored: one PutItem with the condition rev <= op.Rev. A refused write
// is the kept copy, not an error.
func (s *Store) PutOperation(ctx context.Context, op *core.Operation) error {
	what := "put operation " + op.ID
	if err := checkID("operation id", op.ID); err != nil {
		return err
	}
	if err := checkID("project", op.Project); err != nil {
		return err
	}
	item, err := docItem(operationPK(op.ID), operationSK, "operation", op)
	if err != nil {
		return fmt.Errorf("dynamostore: %s: %w", what, err)
	}
	item[attrRev] = number(op.Rev)
	item[attrGSIPK] = str(operationsGSIPK(op.Project))
	item[attrGSISK] = str(op.ID)
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 &s.table,
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR #rev <= :rev"),
		ExpressionAttributeNames:  map[string]string{"#rev": attrRev},
		ExpressionAttributeValues: map[string]types.AttributeValue{":rev": number(op.Rev)},
	})
	if isConditionFailed(err) {
		return nil // a newer copy is stored
	}
	return wrap(what, err)
}

// GetOperation returns ErrNotFound for an unknown id.
func (s *Store) GetOperation(ctx context.Context, id string) (*core.Operation, error) {
	what := "get operation " + id
	if err := checkID("operation id", id); err != nil {
		return nil, err
	}
	op := new(core.Operation)
	if err := s.get(ctx, what, operationPK(id), operationSK, op); err != nil {
		return nil, err
	}
	return op, nil
}

// ListOperations returns a project's operations newest first: a Query of
// the index backwards over the ULID sort key, paged by an opaque cursor.
func (s *Store) ListOperations(ctx context.Context, project string, page core.Page) ([]*core.Operation, string, error) {
	what := "list operations of " + project
	if err := checkID("project", project); err != nil {
		return nil, "", err
	}
	in := s.index(operationsGSIPK(project))
	in.ScanIndexForward = aws.Bool(false)
	keys := []string{attrPK, attrSK, attrGSIPK, attrGSISK}
	if err := setCursor(in, page.Cursor, keys, attrGSIPK, operationsGSIPK(project)); err != nil {
		return nil, "", fmt.Errorf("dynamostore: %s: %w", what, err)
	}
	items, next, err := s.query(ctx, what, in, page.Limit)
	if err != nil {
		return nil, "", err
	}
	ops, err := decodeDocs[core.Operation](what, items)
	if err != nil {
		return nil, "", err
	}
	return ops, cursorOf(next, keys...), nil
}

// purgePage is how many index entries one Query of PurgeOperations reads
// at most: enough to delete in bulk, few enough that a small limit does
// not read a whole 1 MB page of documents. A variable so that tests can
// make it small.
var purgePage int32 = 100

// PurgeOperations deletes the project's ended operation copies whose ULID
// time is before before, oldest first, at most limit (0: all).
//
// It queries the index partition of the project's operations ascending,
// with the key condition gsi1sk < the cutoff's ULID, so that it reads only
// old entries (nothing when nothing is old), never a Scan; it projects the
// key, rev and document (the status is inside the document). Each ended
// copy is removed by a DeleteItem on the condition that its rev and
// project are still the ones read, so that the count is exact, an index
// entry that lags a delete is not counted twice, and a copy changed since
// the read is left for the next purge.
func (s *Store) PurgeOperations(ctx context.Context, project string, before time.Time, limit int) (int, error) {
	what := fmt.Sprintf("purge operations of %s before %s", project, before.UTC().Format(time.RFC3339Nano))
	if err := checkID("project", project); err != nil {
		return 0, err
	}
	if limit < 0 {
		return 0, fmt.Errorf("dynamostore: %s: negative limit %d: %w", what, limit, core.ErrInvalid)
	}
	bound, ok := core.OperationIDBound(before)
	if !ok {
		return 0, nil
	}
	gsi1pk := operationsGSIPK(project)
	in := s.index(gsi1pk)
	in.KeyConditionExpression = aws.String("#pk = :pk AND #sk < :bound")
	in.ExpressionAttributeNames["#sk"] = attrGSISK
	in.ExpressionAttributeValues[":bound"] = str(bound)
	in.ProjectionExpression = aws.String("#tpk, #rev, #doc")
	in.ExpressionAttributeNames["#tpk"] = attrPK
	in.ExpressionAttributeNames["#rev"] = attrRev
	in.ExpressionAttributeNames["#doc"] = attrDoc
	deleted := 0
	for {
		in.Limit = aws.Int32(purgePage)
		if limit > 0 && int64(limit-deleted) < int64(purgePage) {
			in.Limit = aws.Int32(int32(limit - deleted))
		}
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return deleted, wrap(what, err)
		}
		for _, item := range out.Items {
			pk, ok1 := item[attrPK].(*types.AttributeValueMemberS)
			rev, ok2 := item[attrRev].(*types.AttributeValueMemberN)
			if !ok1 || !ok2 {
				return deleted, fmt.Errorf("dynamostore: %s: an operation item without pk or rev: %w", what, core.ErrInternal)
			}
			if !core.IsOperationID(strings.TrimPrefix(pk.Value, operationPK(""))) {
				continue
			}
			var op struct {
				Status core.OpStatus `json:"status"`
			}
			if err := decodeDoc(item, &op); err != nil {
				return deleted, fmt.Errorf("dynamostore: %s: %w", what, err)
			}
			if !op.Status.Terminal() {
				continue
			}
			_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
				TableName:                 &s.table,
				Key:                       itemKey(pk.Value, operationSK),
				ConditionExpression:       aws.String("#rev = :rev AND #gpk = :gpk"),
				ExpressionAttributeNames:  map[string]string{"#rev": attrRev, "#gpk": attrGSIPK},
				ExpressionAttributeValues: map[string]types.AttributeValue{":rev": rev, ":gpk": str(gsi1pk)},
			})
			switch {
			case isConditionFailed(err):
				// Gone, rewritten or moved since the index was read.
				continue
			case err != nil:
				return deleted, wrap(what, err)
			}
			deleted++
			if limit > 0 && deleted == limit {
				return deleted, nil
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return deleted, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// ---- core.ConnectionStore ----

// PutConnection writes one item per project of c (BatchWriteItem), then
// deletes the items of projects an earlier registration had and c has
// not. It is idempotent; a batch DynamoDB left unprocessed is
// ErrThrottled, and the caller retries the whole call. A connection
// without projects has no items: putting it removes an earlier one.
func (s *Store) PutConnection(ctx context.Context, c *core.Connection) error {
	what := "put connection " + c.ID
	if err := checkID("connection id", c.ID); err != nil {
		return err
	}
	for _, p := range c.Projects {
		if err := checkID("project", p); err != nil {
			return err
		}
	}
	projects := slices.Compact(slices.Sorted(slices.Values(c.Projects)))
	old, err := s.connectionProjects(ctx, what, c.ID)
	if err != nil {
		return err
	}
	var writes []types.WriteRequest
	for _, p := range projects {
		item, err := docItem(connectionPK(c.ID), p, "connection", c)
		if err != nil {
			return fmt.Errorf("dynamostore: %s: %w", what, err)
		}
		setExpiry(item, c.ExpiresAt)
		item[attrGSIPK] = str(connectionsGSIPK(p))
		item[attrGSISK] = str(c.ID)
		writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	// Puts first: a failure in between leaves the connection reachable.
	for _, p := range old {
		if !slices.Contains(projects, p) {
			writes = append(writes, deleteRequest(connectionPK(c.ID), p))
		}
	}
	return s.batchWrite(ctx, what, writes)
}

// DeleteConnection removes a connection's items; an unknown id is not an
// error.
func (s *Store) DeleteConnection(ctx context.Context, id string) error {
	what := "delete connection " + id
	if err := checkID("connection id", id); err != nil {
		return err
	}
	old, err := s.connectionProjects(ctx, what, id)
	if err != nil {
		return err
	}
	var writes []types.WriteRequest
	for _, p := range old {
		writes = append(writes, deleteRequest(connectionPK(id), p))
	}
	return s.batchWrite(ctx, what, writes)
}

// connectionProjects returns the projects under which connection id has
// items, reading only their keys.
func (s *Store) connectionProjects(ctx context.Context, what, id string) ([]string, error) {
	// Strongly consistent: a replace must see the items of the last one.
	in := s.partition(connectionPK(id), true)
	in.ProjectionExpression = aws.String(attrSK)
	items, _, err := s.query(ctx, what, in, 0)
	if err != nil {
		return nil, err
	}
	projects := make([]string, 0, len(items))
	for _, item := range items {
		sk, _ := item[attrSK].(*types.AttributeValueMemberS)
		if sk == nil {
			return nil, fmt.Errorf("dynamostore: %s: item without a string sort key: %w", what, core.ErrInternal)
		}
		projects = append(projects, sk.Value)
	}
	return projects, nil
}

// ListConnections returns the project's connections unexpired at now: one
// Query of the index, expired items filtered out by DynamoDB.
func (s *Store) ListConnections(ctx context.Context, project string, now time.Time) ([]*core.Connection, error) {
	what := "list connections of " + project
	in, err := s.connectionsQuery(project, now)
	if err != nil {
		return nil, err
	}
	items, _, err := s.query(ctx, what, in, 0)
	if err != nil {
		return nil, err
	}
	cs, err := decodeDocs[core.Connection](what, items)
	if err != nil {
		return nil, err
	}
	return cs, nil
}

// connectionsQuery is the Query of the index for project's connections
// unexpired at now (DynamoDB filters the expired ones out).
func (s *Store) connectionsQuery(project string, now time.Time) (*dynamodb.QueryInput, error) {
	if err := checkID("project", project); err != nil {
		return nil, err
	}
	in := s.index(connectionsGSIPK(project))
	in.FilterExpression = aws.String("#exp > :now")
	in.ExpressionAttributeNames["#exp"] = attrExpiresNS
	in.ExpressionAttributeValues[":now"] = number(now.UnixNano())
	return in, nil
}

// ---- core.TicketStore ----

// PutTicket stores a ticket under its hash, with a TTL.
func (s *Store) PutTicket(ctx context.Context, t *core.Ticket) error {
	// The hash is a credential's digest: keep it out of error messages.
	const what = "put ticket"
	if t.Hash == "" {
		return fmt.Errorf("dynamostore: %s: empty hash: %w", what, core.ErrInvalid)
	}
	item, err := docItem(ticketPK(t.Hash), ticketSK, "ticket", t)
	if err != nil {
		return fmt.Errorf("dynamostore: %s: %w", what, err)
	}
	setExpiry(item, t.ExpiresAt)
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item})
	return wrap(what, err)
}

// TakeTicket removes the ticket with one DeleteItem that returns the old
// item, on the condition that it exists and has not expired at now; of two
// takers, DynamoDB lets one delete it. A failed condition is ErrNotFound.
// An expired ticket stays until TTL removes it.
func (s *Store) TakeTicket(ctx context.Context, hash string, now time.Time) (*core.Ticket, error) {
	const what = "take ticket"
	if hash == "" {
		return nil, fmt.Errorf("dynamostore: %s: %w", what, core.ErrNotFound)
	}
	out, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 &s.table,
		Key:                       itemKey(ticketPK(hash), ticketSK),
		ConditionExpression:       aws.String("attribute_exists(pk) AND #exp > :now"),
		ExpressionAttributeNames:  map[string]string{"#exp": attrExpiresNS},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": number(now.UnixNano())},
		ReturnValues:              types.ReturnValueAllOld,
	})
	if isConditionFailed(err) {
		return nil, fmt.Errorf("dynamostore: %s: missing, taken or expired: %w", what, core.ErrNotFound)
	}
	if err != nil {
		return nil, wrap(what, err)
	}
	t := new(core.Ticket)
	if err := decodeDoc(out.Attributes, t); err != nil {
		return nil, fmt.Errorf("dynamostore: %s: %w", what, err)
	}
	return t, nil
}

// ---- plumbing ----

// get reads the item (pk, sk) into v, or returns ErrNotFound.
func (s *Store) get(ctx context.Context, what, pk, sk string, v any) error {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.table,
		Key:            itemKey(pk, sk),
		ConsistentRead: aws.Bool(s.consistent),
	})
	if err != nil {
		return wrap(what, err)
	}
	if out.Item == nil {
		return fmt.Errorf("dynamostore: %s: %w", what, core.ErrNotFound)
	}
	if err := decodeDoc(out.Item, v); err != nil {
		return fmt.Errorf("dynamostore: %s: %w", what, err)
	}
	return nil
}

// partition returns a Query of the table's partition pk, strongly
// consistent if strong.
func (s *Store) partition(pk string, strong bool) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk)},
		ConsistentRead:            aws.Bool(strong),
	}
}

// index returns a Query of the index's partition gsi1pk.
func (s *Store) index(gsi1pk string) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		TableName:                 &s.table,
		IndexName:                 aws.String(IndexName),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrGSIPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(gsi1pk)},
	}
}

// query runs in, following DynamoDB's pages, until it has limit items and
// knows whether one more exists (limit 0: every item). It returns the
// items and, when more exist, the last returned item: the next page starts
// after it. Asking for one item beyond the page means that a cursor is
// returned only when another page has items.
func (s *Store) query(ctx context.Context, what string, in *dynamodb.QueryInput, limit int) (items []map[string]types.AttributeValue, last map[string]types.AttributeValue, err error) {
	for {
		if limit > 0 {
			in.Limit = aws.Int32(int32(limit + 1 - len(items)))
		}
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, nil, wrap(what, err)
		}
		items = append(items, out.Items...)
		if limit > 0 && len(items) > limit {
			return items[:limit], items[limit-1], nil
		}
		if len(out.LastEvaluatedKey) == 0 {
			return items, nil, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// batchWrite runs writes in batches of 25. What DynamoDB leaves
// unprocessed is sent once more at once; what is left then is
// ErrThrottled (unprocessed items are DynamoDB's way to say so).
func (s *Store) batchWrite(ctx context.Context, what string, writes []types.WriteRequest) error {
	for chunk := range slices.Chunk(writes, batchWriteSize) {
		pending := map[string][]types.WriteRequest{s.table: chunk}
		for attempt := 0; len(pending[s.table]) > 0; attempt++ {
			if attempt == 2 {
				return fmt.Errorf("dynamostore: %s: %d writes left unprocessed: %w", what, len(pending[s.table]), core.ErrThrottled)
			}
			out, err := s.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return wrap(what, err)
			}
			pending = out.UnprocessedItems
		}
	}
	return nil
}

// Cursors are base64 (URL alphabet) of the JSON of the last returned
// item's key attributes, DynamoDB's ExclusiveStartKey: opaque to callers,
// and safe in a URL query.
func cursorOf(last map[string]types.AttributeValue, keys ...string) string {
	if last == nil {
		return ""
	}
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		if v, ok := last[k].(*types.AttributeValueMemberS); ok {
			m[k] = v.Value
		}
	}
	data, _ := json.Marshal(m) // a map of strings always encodes
	return base64.RawURLEncoding.EncodeToString(data)
}

// setCursor sets in's ExclusiveStartKey from cursor. A cursor that is not
// one of ours, or that belongs to another partition, is ErrInvalid.
func setCursor(in *dynamodb.QueryInput, cursor string, keys []string, partAttr, part string) error {
	if cursor == "" {
		return nil
	}
	bad := fmt.Errorf("bad cursor: %w", core.ErrInvalid)
	data, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return bad
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil || len(m) != len(keys) || m[partAttr] != part {
		return bad
	}
	in.ExclusiveStartKey = make(map[string]types.AttributeValue, len(keys))
	for _, k := range keys {
		v, ok := m[k]
		if !ok || v == "" {
			return bad
		}
		in.ExclusiveStartKey[k] = str(v)
	}
	return nil
}

// docItem returns the item (pk, sk) of type typ holding v as its JSON
// document.
func docItem(pk, sk, typ string, v any) (map[string]types.AttributeValue, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w: %w", typ, core.ErrInvalid, err)
	}
	return map[string]types.AttributeValue{
		attrPK:   str(pk),
		attrSK:   str(sk),
		attrType: str(typ),
		attrDoc:  str(string(data)),
	}, nil
}

// decodeDoc decodes an item's document into v. Unknown fields (written by
// a newer version) are ignored. An item without a document is a broken
// invariant, not bad input.
// decodeDocs decodes the document of every item, in order, as T.
func decodeDocs[T any](what string, items []map[string]types.AttributeValue) ([]*T, error) {
	out := make([]*T, 0, len(items))
	for _, item := range items {
		v := new(T)
		if err := decodeDoc(item, v); err != nil {
			return nil, fmt.Errorf("dynamostore: %s: %w", what, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func decodeDoc(item map[string]types.AttributeValue, v any) error {
	doc, ok := item[attrDoc].(*types.AttributeValueMemberS)
	if !ok {
		return fmt.Errorf("stored item has no %s attribute: %w", attrDoc, core.ErrInternal)
	}
	if err := json.Unmarshal([]byte(doc.Value), v); err != nil {
		return fmt.Errorf("decode stored item: %w: %w", core.ErrInternal, err)
	}
	return nil
}

// setExpiry sets the TTL attribute (seconds, rounded up so that DynamoDB
// never removes an item before it expires) and the exact one that reads
// compare.
func setExpiry(item map[string]types.AttributeValue, at time.Time) {
	secs := at.Unix()
	if at.Nanosecond() > 0 {
		secs++
	}
	item[attrExpiresAt] = number(secs)
	item[attrExpiresNS] = number(at.UnixNano())
}

func itemKey(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(pk), attrSK: str(sk)}
}

func deleteRequest(pk, sk string) types.WriteRequest {
	return types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: itemKey(pk, sk)}}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func number(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// checkID rejects empty ids: DynamoDB refuses empty key strings, and the
// refusal would come back as a validation error of the request.
func checkID(what, id string) error {
	if id == "" {
		return fmt.Errorf("dynamostore: empty %s: %w", what, core.ErrInvalid)
	}
	return nil
}

func checkKey(k core.ResourceKey) error {
	if err := checkID("project", k.Project); err != nil {
		return err
	}
	return checkID("stack name", k.StackName)
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// wrap names the operation and gives every error a kind, keeping the
// SDK's error: a failed condition is ErrConflict, a rate limit
// ErrThrottled, a server-side or network failure or a timeout
// ErrUnavailable, a request DynamoDB refused as invalid (an item over
// 400 KB) ErrInvalid, and anything else (a missing table, denied access)
// ErrInternal. A cancelled context stays a cancelled context.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	kind := core.ErrInternal
	var ae smithy.APIError
	switch {
	case errors.As(err, &ae):
		switch ae.ErrorCode() {
		case "ConditionalCheckFailedException":
			kind = core.ErrConflict
		case "ProvisionedThroughputExceededException", "ThrottlingException",
			"RequestLimitExceeded", "LimitExceededException":
			kind = core.ErrThrottled
		case "InternalServerError", "InternalFailure", "ServiceUnavailable",
			"ServiceUnavailableException", "TransactionInProgressException":
			kind = core.ErrUnavailable
		case "ValidationException", "SerializationException":
			kind = core.ErrInvalid
		}
		if ae.ErrorFault() == smithy.FaultServer && kind == core.ErrInternal {
			kind = core.ErrUnavailable
		}
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("dynamostore: %s: %w", what, err)
	default:
		// No answer from DynamoDB: a network error or a deadline.
		kind = core.ErrUnavailable
	}
	return fmt.Errorf("dynamostore: %s: %w: %w", what, kind, err)
}
