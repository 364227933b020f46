package core

import (
	"testing"
	"time"
)

func TestKeysCreated(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	r := &Resource{StackName: "s"}
	ev := StackEvent{ResourceType: AccessKeyType, ResourceStatus: "CREATE_COMPLETE", PhysicalResourceID: "AKIA1", Timestamp: t0}
	if !NoteKeyCreated(r, ev) || !r.KeysCreated["AKIA1"].Equal(t0) {
		t.Fatalf("first event: %v", r.KeysCreated)
	}
	ev.Timestamp = t0.Add(time.Hour) // a duplicate, later
	if NoteKeyCreated(r, ev) || !r.KeysCreated["AKIA1"].Equal(t0) {
		t.Fatalf("duplicate changed it: %v", r.KeysCreated)
	}
	for _, other := range []StackEvent{
		{ResourceType: AccessKeyType, ResourceStatus: "CREATE_IN_PROGRESS", PhysicalResourceID: "AKIA2"},
		{ResourceType: "AWS::IAM::User", ResourceStatus: "CREATE_COMPLETE", PhysicalResourceID: "u"},
	} {
		if NoteKeyCreated(r, other) {
			t.Errorf("%+v counted", other)
		}
	}
	NoteKeyCreated(r, StackEvent{ResourceType: AccessKeyType, ResourceStatus: "CREATE_COMPLETE", PhysicalResourceID: "AKIA2", Timestamp: t0})
	r.Observed.Phase = PhaseReady
	SetOutputs(r, map[string]string{"AccessKey1Id": "AKIA2", "UserArn": "AKIA1"})
	if len(r.KeysCreated) != 1 || r.KeysCreated["AKIA2"].IsZero() {
		t.Errorf("after the outputs: %v", r.KeysCreated)
	}
	c := r.Clone()
	c.KeysCreated["AKIA2"] = t0.Add(time.Minute)
	if r.KeysCreated["AKIA2"].Equal(t0.Add(time.Minute)) {
		t.Error("Clone shares KeysCreated")
	}
}

func TestRecordChange(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	r := &Resource{}
	RecordChange(r, &Operation{Action: ActionCreate, RequestedBy: "alice"}, t0)
	RecordChange(r, &Operation{Action: ActionUpdate, RequestedBy: "bob"}, t0.Add(time.Hour))
	RecordChange(r, &Operation{Action: ActionDelete, RequestedBy: "carol"}, t0.Add(2*time.Hour))
	if r.CreatedBy != "alice" || !r.CreatedAt.Equal(t0) || r.ChangedBy != "bob" || !r.ChangedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("%+v", r)
	}
}
