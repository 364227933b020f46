package dynamostore_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"bucketdesk/internal/core"
	"bucketdesk/internal/store/dynamostore"
	"bucketdesk/internal/store/dynamostore/dynalitetest"
)

// TestAuditTTL: with AuditRetention an audit record carries the TTL
// attribute of its time plus the retention, and its filter attributes;
// without it, no TTL.
func TestAuditTTL(t *testing.T) {
	client := dynalitetest.Client(dynalitetest.Start(t))
	table := dynalitetest.CreateTable(t, client)
	at := time.Unix(1_800_000_000, 0).UTC()
	id := ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String()
	rec := &core.AuditRecord{ID: id, Project: "p1", At: at, Actor: "alice", Action: core.AuditReveal, Kind: core.KindUser, Name: "etl", Outcome: core.OutcomeSucceeded}

	s, err := dynamostore.New(client, table, &dynamostore.Options{AuditRetention: 400 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	item := rawItem(t, client, table, "AUDIT#p1", id)
	want := at.Add(400 * 24 * time.Hour).Unix()
	if n, ok := item["expires_at"].(*types.AttributeValueMemberN); !ok || n.Value != strconv.FormatInt(want, 10) {
		t.Errorf("audit item expires_at = %#v, want N %d", item["expires_at"], want)
	}
	for attr, v := range map[string]string{"actor": "alice", "action": "reveal", "kind": "user", "name": "etl"} {
		if got, ok := item[attr].(*types.AttributeValueMemberS); !ok || got.Value != v {
			t.Errorf("audit item %s = %#v, want S %q", attr, item[attr], v)
		}
	}

	plain, err := dynamostore.New(client, table, nil)
	if err != nil {
		t.Fatal(err)
	}
	other := *rec
	other.Project = "p2"
	if err := plain.AppendAudit(t.Context(), &other); err != nil {
		t.Fatal(err)
	}
	if _, ok := rawItem(t, client, table, "AUDIT#p2", id)["expires_at"]; ok {
		t.Error("an audit item written without AuditRetention has a TTL")
	}
}
