package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"bucketdesk/internal/core"
)

var _ core.ShareLinkStore = (*Store)(nil)

// Share link items:
//
//	link  pk LINK#<id>  sk LINK  version N  gsi1pk LINKS#<project>  gsi1sk <id>  expires_*
//
// expires_at (the TTL attribute) is the link's RetainUntil: DynamoDB
// deletes a link's record LinkRetention after the link expired. A link
// that ended earlier (revealed, revoked, locked) lost its ciphertext then.
const linkSK = "LINK"

func linkPK(id string) string          { return "LINK#" + id }
func linksGSIPK(project string) string { return "LINKS#" + project }

// PutShareLink writes l with one PutItem whose condition is the stored
// version: version = prev, or attribute_not_exists for prev 0.
func (s *Store) PutShareLink(ctx context.Context, l *core.ShareLink, prev int64) error {
	what := fmt.Sprintf("put share link %s version %d", l.ID, l.Version)
	if err := checkID("link id", l.ID); err != nil {
		return err
	}
	if err := checkID("project", l.Project); err != nil {
		return err
	}
	if prev < 0 || l.Version <= prev {
		return fmt.Errorf("dynamostore: %s: version must be greater than prev %d: %w", what, prev, core.ErrInvalid)
	}
	item, err := docItem(linkPK(l.ID), linkSK, "link", l)
	if err != nil {
		return fmt.Errorf("dynamostore: %s: %w", what, err)
	}
	item[attrVersion] = number(l.Version)
	item[attrGSIPK] = str(linksGSIPK(l.Project))
	item[attrGSISK] = str(l.ID)
	setExpiry(item, l.RetainUntil())
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

// GetShareLink reads one link (strongly consistent unless the store is
// configured otherwise); an unknown id is ErrNotFound.
func (s *Store) GetShareLink(ctx context.Context, id string) (*core.ShareLink, error) {
	if err := checkID("link id", id); err != nil {
		return nil, err
	}
	l := new(core.ShareLink)
	if err := s.get(ctx, "get share link "+id, linkPK(id), linkSK, l); err != nil {
		return nil, err
	}
	return l, nil
}

// ListShareLinks queries the index backwards over the ULID sort key: a
// project's links newest first. The index is eventually consistent: a
// link may show a moment after its write.
func (s *Store) ListShareLinks(ctx context.Context, project string) ([]*core.ShareLink, error) {
	what := "list share links of " + project
	if err := checkID("project", project); err != nil {
		return nil, err
	}
	in := s.index(linksGSIPK(project))
	in.ScanIndexForward = aws.Bool(false)
	items, _, err := s.query(ctx, what, in, 0)
	if err != nil {
		return nil, err
	}
	out := make([]*core.ShareLink, 0, len(items))
	for _, item := range items {
		l := new(core.ShareLink)
		if err := decodeDoc(item, l); err != nil {
			return nil, fmt.Errorf("dynamostore: %s: %w", what, err)
		}
		out = append(out, l)
	}
	return out, nil
}
