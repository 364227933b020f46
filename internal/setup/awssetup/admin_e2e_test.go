package awssetup_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/setup/awssetup"
)

// connect opens a WebSocket connection of the user of token as API
// Gateway does: a ticket, the REQUEST authorizer, then $connect.
func (w *awsWorld) connect(token, id string) {
	w.t.Helper()
	r := w.api("POST", "/api/ws-ticket", token, nil)
	if r.StatusCode != 201 {
		w.t.Fatalf("ticket: %d %s", r.StatusCode, r.Body)
	}
	var tk struct{ Ticket string }
	json.Unmarshal([]byte(r.Body), &tk)
	wsContext := map[string]any{"routeKey": "$connect", "eventType": "CONNECT", "connectionId": id, "apiId": "wsapi", "stage": "prod",
		"requestId": "ws-" + id, "domainName": "ws.example.com", "connectedAt": time.Now().UnixMilli()}
	var authz struct {
		PrincipalID string         `json:"principalId"`
		Context     map[string]any `json:"context"`
	}
	json.Unmarshal(w.invoke(awssetup.RoleWSAuthorizer, map[string]any{
		"type": "REQUEST", "methodArn": "arn:aws:execute-api:eu-west-1:111122223333:wsapi/prod/$connect",
		"headers": map[string]string{"Host": "ws.example.com"}, "queryStringParameters": map[string]string{"ticket": tk.Ticket},
		"requestContext": wsContext,
	}), &authz)
	wsContext["authorizer"] = map[string]any{"principalId": authz.PrincipalID, "user": authz.Context["user"], "projects": authz.Context["projects"]}
	w.gw.Register(id)
	w.invoke(awssetup.RoleWSConnect, map[string]any{"requestContext": wsContext, "isBase64Encoded": false})
}

// On the AWS wiring, the administrators are the configured Cognito group:
// they register a project through the API function (the account checked
// through STS and CloudFormation), and removing a member deletes that
// member's connections to the project through @connections.
func TestAWSAdministration(t *testing.T) {
	w := newAWSWorld(t)
	w.env[awssetup.EnvAdminGroup] = "ops-admins"
	issue := func(p core.Principal) string {
		tok, err := w.issuer.Issue(p, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	root := issue(core.Principal{User: "root", Groups: []string{"ops-admins"}})
	notRoot := issue(core.Principal{User: "eve", Groups: []string{core.DefaultAdminGroup}})
	alice := issue(core.Principal{User: "alice"})
	for _, tok := range []string{alice, notRoot} {
		if r := w.api("GET", "/api/admin/projects", tok, nil); r.StatusCode != 403 {
			t.Fatalf("a non-administrator lists projects: %d %s", r.StatusCode, r.Body)
		}
	}
	geo := map[string]any{"id": "geo", "name": "Geodata", "account_id": accountID, "region": region,
		"role": roleARN, "external_id": "not-" + externalID, "members": []string{"alice"}}
	r := w.api("POST", "/api/admin/projects", root, geo)
	if r.StatusCode != 400 || !strings.Contains(r.Body, "AccessDenied") || !strings.Contains(r.Body, `external id \"not-`+externalID) {
		t.Fatalf("a wrong external id: %d %s", r.StatusCode, r.Body)
	}
	geo["external_id"] = externalID
	if r = w.api("POST", "/api/admin/projects", root, geo); r.StatusCode != 201 {
		t.Fatalf("register: %d %s", r.StatusCode, r.Body)
	}

	w.connect(alice, "conn-alice")
	if !w.gw.Open("conn-alice") {
		t.Fatal("alice's connection is not open")
	}
	if r = w.api("POST", "/api/admin/projects/geo/members", root, map[string]any{"remove": []string{"alice"}}); r.StatusCode != 200 {
		t.Fatalf("remove alice: %d %s", r.StatusCode, r.Body)
	}
	if w.gw.Open("conn-alice") {
		t.Fatal("alice's connection to geo is still open")
	}
	conns, err := w.function(awssetup.RoleAPI).Store.ListConnections(t.Context(), "geo", time.Now())
	if err != nil || len(conns) != 0 {
		t.Fatalf("geo's connections: %v %v", conns, err)
	}
	if r = w.api("GET", "/api/projects/geo", alice, nil); r.StatusCode != 404 {
		t.Fatalf("alice reads geo: %d", r.StatusCode)
	}
}
