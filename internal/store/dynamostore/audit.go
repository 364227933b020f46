package dynamostore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"bucketdesk/internal/core"
)

var _ core.AuditStore = (*Store)(nil)

// The audit trail: a project's records share one partition, sorted by
// their ULID ids, so that a listing, its time range and a purge are one
// Query of that partition in id order, never a Scan. The attributes a
// filter compares are copied out of the document.
const (
	attrActor  = "actor"
	attrAction = "action"
	attrKind   = "kind"
	attrName   = "name"
)

func auditPK(project string) string { return "AUDIT#" + project }

// AppendAudit writes r with one PutItem on the condition that no record
// has its id: a repeated append keeps the first and returns nil.
func (s *Store) AppendAudit(ctx context.Context, r *core.AuditRecord) error {
	what := "append audit record " + r.ID
	if err := checkID("project", r.Project); err != nil {
		return err
	}
	if !core.IsOperationID(r.ID) {
		return fmt.Errorf("dynamostore: %s: the id must be a canonical ULID: %w", what, core.ErrInvalid)
	}
	item, err := docItem(auditPK(r.Project), r.ID, "audit", r)
	if err != nil {
		return fmt.Errorf("dynamostore: %s: %w", what, err)
	}
	for attr, v := range map[string]string{attrActor: r.Actor, attrAction: string(r.Action), attrKind: string(r.Kind), attrName: r.Name} {
		if v != "" {
			item[attr] = str(v)
		}
	}
	if s.auditTTL > 0 {
		setExpiry(item, r.At.Add(s.auditTTL))
	}
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           &s.table,
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if isConditionFailed(err) {
		return nil // appended before: append-only, idempotent
	}
	return wrap(what, err)
}

// ListAudit queries the project's partition backwards, the time range as
// the key condition and the other conditions of f as a filter, paged by
// an opaque cursor. DynamoDB filters after it reads, so a filter that
// matches few records costs the reads of the records it skips (a time
// range does not: it bounds the read).
func (s *Store) ListAudit(ctx context.Context, project string, f core.AuditFilter, page core.Page) ([]*core.AuditRecord, string, error) {
	what := "list audit records of " + project
	if err := checkID("project", project); err != nil {
		return nil, "", err
	}
	pk := auditPK(project)
	in := s.partition(pk, s.consistent)
	in.ScanIndexForward = aws.Bool(false)
	if err := setCursor(in, page.Cursor, []string{attrPK, attrSK}, attrPK, pk); err != nil {
		return nil, "", fmt.Errorf("dynamostore: %s: %w", what, err)
	}
	lo, hi, empty := f.IDRange()
	if empty {
		return []*core.AuditRecord{}, "", nil
	}
	names, values := in.ExpressionAttributeNames, in.ExpressionAttributeValues
	names["#sk"] = attrSK
	// A filter cannot name the sort key: the excluded upper bound becomes
	// the greatest id below it, included.
	last, bounded := lastBelow(hi)
	switch {
	case lo != "" && bounded:
		in.KeyConditionExpression = aws.String("#pk = :pk AND #sk BETWEEN :lo AND :last")
		values[":lo"], values[":last"] = str(lo), str(last)
	case lo != "":
		in.KeyConditionExpression = aws.String("#pk = :pk AND #sk >= :lo")
		values[":lo"] = str(lo)
	case bounded:
		in.KeyConditionExpression = aws.String("#pk = :pk AND #sk <= :last")
		values[":last"] = str(last)
	default:
		delete(names, "#sk")
	}
	var conds []string
	for _, c := range []struct{ attr, v string }{{attrActor, f.Actor}, {attrAction, string(f.Action)}, {attrKind, string(f.Kind)}, {attrName, f.Name}} {
		if c.v != "" {
			names["#"+c.attr] = c.attr
			values[":"+c.attr] = str(c.v)
			conds = append(conds, "#"+c.attr+" = :"+c.attr)
		}
	}
	if len(conds) > 0 {
		in.FilterExpression = aws.String(strings.Join(conds, " AND "))
	}
	items, next, err := s.query(ctx, what, in, page.Limit)
	if err != nil {
		return nil, "", err
	}
	rs, err := decodeDocs[core.AuditRecord](what, items)
	if err != nil {
		return nil, "", err
	}
	return rs, cursorOf(next, attrPK, attrSK), nil
}

// lastBelow returns the greatest canonical ULID below hi, an excluded
// upper bound of core.AuditFilter.IDRange; bounded is false when hi bounds
// nothing (it is "", or above every ULID).
func lastBelow(hi string) (last string, bounded bool) {
	u, err := ulid.ParseStrict(hi)
	if err != nil {
		return "", false
	}
	var v ulid.ULID
	// IDRange never returns the epoch as hi: its range would be empty.
	if err := v.SetTime(u.Time() - 1); err != nil {
		return "", false
	}
	for i := 6; i < len(v); i++ {
		v[i] = 0xFF
	}
	return v.String(), true
}

// PurgeAudit queries the project's partition ascending with the key
// condition sk < the cutoff's ULID, so that it reads only old records,
// and deletes each on the condition that it still exists, so that the
// count is exact when purges overlap.
func (s *Store) PurgeAudit(ctx context.Context, project string, before time.Time, limit int) (int, error) {
	what := fmt.Sprintf("purge audit records of %s before %s", project, before.UTC().Format(time.RFC3339Nano))
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
	pk := auditPK(project)
	in := s.partition(pk, true)
	in.KeyConditionExpression = aws.String("#pk = :pk AND #sk < :bound")
	in.ExpressionAttributeNames["#sk"] = attrSK
	in.ExpressionAttributeValues[":bound"] = str(bound)
	in.ProjectionExpression = aws.String("#sk")
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
			sk, ok := item[attrSK].(*types.AttributeValueMemberS)
			if !ok {
				return deleted, fmt.Errorf("dynamostore: %s: an audit item without a sort key: %w", what, core.ErrInternal)
			}
			_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
				TableName:           &s.table,
				Key:                 itemKey(pk, sk.Value),
				ConditionExpression: aws.String("attribute_exists(pk)"),
			})
			switch {
			case isConditionFailed(err):
				continue // purged meanwhile
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
