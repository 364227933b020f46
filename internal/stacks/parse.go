package stacks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"bucketdesk/internal/core"
)

// Parse reads a template rendered by Render, or edited in the console in
// the same shape, back into a spec in canonical form (see Canonical).
//
// Parse is strict about shape: an unknown resource, property or policy
// action, or a setting that the spec cannot express (public access not
// blocked, an inactive key of a user that has not expired, a partial set of object actions) is an error
// wrapping core.ErrInvalid that names it, because reading such a stack as a
// spec would hide the difference. Statements that Render derives from the
// grants (ListBucket, GetBucketLocation, the SFTP mappings) are not checked
// against them: the grants are read from the object statements, and the next
// Render writes the derived parts again.
//
// Parse does not validate the values against the spec rules; call
// spec.Validate for that.
func Parse(template string) (core.Spec, error) {
	var t struct {
		AWSTemplateFormatVersion string
		Description              string
		Metadata                 json.RawMessage
		Resources                map[string]resource
		Outputs                  json.RawMessage
	}
	if err := strictDecode([]byte(template), &t); err != nil {
		return core.Spec{}, bad("%v", err)
	}
	if v := t.AWSTemplateFormatVersion; v != "" && v != templateFormatVersion {
		return core.Spec{}, bad("AWSTemplateFormatVersion %q, want %q", v, templateFormatVersion)
	}
	_, isBucket := t.Resources["Bucket"]
	_, isUser := t.Resources["User"]
	var spec core.Spec
	var err error
	switch {
	case isBucket && isUser:
		return core.Spec{}, bad("both a Bucket and a User resource")
	case isBucket:
		var b *core.BucketSpec
		b, err = parseBucket(t.Resources)
		spec.Bucket = b
	case isUser:
		var u *core.UserSpec
		u, err = parseUser(t.Resources, t.Metadata)
		spec.User = u
	default:
		return core.Spec{}, bad("neither a Bucket nor a User resource")
	}
	if err != nil {
		return core.Spec{}, err
	}
	return Canonical(spec), nil
}

// resource is one entry of a template's Resources. The policies and
// metadata CloudFormation allows on any resource are accepted and ignored.
type resource struct {
	Type                string
	Properties          json.RawMessage
	DependsOn           json.RawMessage
	DeletionPolicy      json.RawMessage
	UpdateReplacePolicy json.RawMessage
	Metadata            json.RawMessage
}

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: template: %s", core.ErrInvalid, fmt.Sprintf(format, args...))
}

func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("data after the JSON value")
	}
	return nil
}

// properties checks the type of resource id and decodes its properties
// strictly into v.
func properties(rs map[string]resource, id, typ string, v any) error {
	r := rs[id]
	if r.Type != typ {
		return bad("resource %s has type %q, want %q", id, r.Type, typ)
	}
	if len(r.Properties) == 0 {
		return bad("resource %s has no Properties", id)
	}
	if err := strictDecode(r.Properties, v); err != nil {
		return bad("resource %s: %v", id, err)
	}
	return nil
}

// onlyResources rejects logical ids the kind of stack does not have.
func onlyResources(rs map[string]resource, allowed ...string) error {
	ids := make([]string, 0, len(rs))
	for id := range rs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if !slices.Contains(allowed, id) {
			return bad("unexpected resource %s", id)
		}
	}
	return nil
}

// intValue is an integer property; CloudFormation also accepts it as a
// numeric string, which console edits produce.
type intValue int

func (n *intValue) UnmarshalJSON(b []byte) error {
	s := string(b)
	var str string
	if json.Unmarshal(b, &str) == nil {
		s = str
	}
	i, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%s is not an integer", b)
	}
	*n = intValue(i)
	return nil
}

// boolValue is a boolean property, also accepted as "true" or "false".
type boolValue bool

func (v *boolValue) UnmarshalJSON(b []byte) error {
	s := string(b)
	var str string
	if json.Unmarshal(b, &str) == nil {
		s = str
	}
	x, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%s is not a boolean", b)
	}
	*v = boolValue(x)
	return nil
}

// stringList is a policy element that IAM accepts as a string or a list.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*l = stringList{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return fmt.Errorf("%s is neither a string nor a list of strings", b)
	}
	*l = ss
	return nil
}

type tag struct{ Key, Value string }

func tagMap(tags []tag, where string) (map[string]string, error) {
	if len(tags) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		if _, dup := m[t.Key]; dup {
			return nil, bad("%s: tag %q appears twice", where, t.Key)
		}
		m[t.Key] = t.Value
	}
	return m, nil
}

func parseBucket(rs map[string]resource) (*core.BucketSpec, error) {
	if err := onlyResources(rs, "Bucket", "BucketPolicy"); err != nil {
		return nil, err
	}
	var p struct {
		BucketName                     *string
		PublicAccessBlockConfiguration *struct{ BlockPublicAcls, BlockPublicPolicy, IgnorePublicAcls, RestrictPublicBuckets boolValue }
		BucketEncryption               *struct {
			ServerSideEncryptionConfiguration []struct {
				ServerSideEncryptionByDefault struct{ SSEAlgorithm, KMSMasterKeyID string }
				BucketKeyEnabled              *boolValue
			}
		}
		OwnershipControls *struct {
			Rules []struct{ ObjectOwnership string }
		}
		VersioningConfiguration *struct{ Status string }
		LifecycleConfiguration  *struct {
			Rules []lifecycleRule
		}
		// Server access logging follows the project (its log bucket), not
		// the spec: it is accepted and not read; the next Render writes
		// the project's.
		LoggingConfiguration *struct {
			DestinationBucketName, LogFilePrefix json.RawMessage
			TargetObjectKeyFormat                json.RawMessage
		}
		Tags []tag
	}
	if err := properties(rs, "Bucket", "AWS::S3::Bucket", &p); err != nil {
		return nil, err
	}
	b := &core.BucketSpec{}
	if p.BucketName == nil || *p.BucketName == "" {
		return nil, bad("Bucket.BucketName is missing")
	}
	b.Name = *p.BucketName
	if pab := p.PublicAccessBlockConfiguration; pab == nil ||
		!(pab.BlockPublicAcls && pab.BlockPublicPolicy && pab.IgnorePublicAcls && pab.RestrictPublicBuckets) {
		return nil, bad("Bucket.PublicAccessBlockConfiguration must set all four settings to true")
	}
	if e := p.BucketEncryption; e == nil || len(e.ServerSideEncryptionConfiguration) != 1 {
		return nil, bad("Bucket.BucketEncryption must hold exactly one ServerSideEncryptionConfiguration rule")
	}
	sse := p.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault
	switch {
	case sse.SSEAlgorithm == "AES256" && sse.KMSMasterKeyID == "":
		b.Encryption = core.Encryption{Type: core.EncryptionS3}
	case sse.SSEAlgorithm == "aws:kms" && sse.KMSMasterKeyID != "":
		b.Encryption = core.Encryption{Type: core.EncryptionKMS, KMSKeyARN: sse.KMSMasterKeyID}
	default:
		return nil, bad("Bucket.BucketEncryption: unexpected SSEAlgorithm %q with KMSMasterKeyID %q", sse.SSEAlgorithm, sse.KMSMasterKeyID)
	}
	if o := p.OwnershipControls; o == nil || len(o.Rules) != 1 || o.Rules[0].ObjectOwnership != "BucketOwnerEnforced" {
		return nil, bad("Bucket.OwnershipControls must be one rule with ObjectOwnership BucketOwnerEnforced")
	}
	if v := p.VersioningConfiguration; v != nil {
		switch v.Status {
		case "Enabled":
			b.Versioning = true
		case "Suspended":
			b.VersioningSuspended = true
		default:
			return nil, bad("Bucket.VersioningConfiguration: unexpected Status %q", v.Status)
		}
	}
	if l := p.LifecycleConfiguration; l != nil {
		days, err := parseLifecycle(l.Rules)
		if err != nil {
			return nil, err
		}
		b.ExpiryDays = days
	}
	tags, err := tagMap(p.Tags, "Bucket.Tags")
	if err != nil {
		return nil, err
	}
	b.Tags = tags
	if _, ok := rs["BucketPolicy"]; !ok {
		return nil, bad("BucketPolicy is missing; it enforces TLS")
	}
	var bp struct {
		Bucket         json.RawMessage
		PolicyDocument struct {
			Version   string
			Id        string
			Statement []struct {
				Sid                                    string
				Effect                                 string
				Principal, Action, Resource, NotAction json.RawMessage
				Condition                              map[string]map[string]json.RawMessage
			}
		}
	}
	if err := properties(rs, "BucketPolicy", "AWS::S3::BucketPolicy", &bp); err != nil {
		return nil, err
	}
	tls := false
	for _, s := range bp.PolicyDocument.Statement {
		if s.Effect != "Deny" {
			return nil, bad("BucketPolicy: unexpected %q statement; only the TLS deny belongs there", s.Effect)
		}
		var v boolValue = true
		if raw := s.Condition["Bool"]["aws:SecureTransport"]; raw != nil && json.Unmarshal(raw, &v) == nil && !v {
			tls = true
		}
	}
	if !tls {
		return nil, bad("BucketPolicy has no statement denying requests without TLS (aws:SecureTransport false)")
	}
	return b, nil
}

// lifecycleRule is one rule of a bucket's LifecycleConfiguration.
type lifecycleRule struct {
	Id                             string
	Status                         string
	ExpirationInDays               *intValue
	ExpiredObjectDeleteMarker      *boolValue
	NoncurrentVersionExpiration    *struct{ NoncurrentDays intValue }
	AbortIncompleteMultipartUpload *struct{ DaysAfterInitiation intValue }
}

// parseLifecycle reads the expiry days of a bucket's lifecycle rules (0
// for none). The rules Render derives from the spec (aborting incomplete
// uploads, expiring noncurrent versions and delete markers) may be missing,
// as in templates rendered before they existed; the next Render writes
// them. Values the spec cannot express are errors.
func parseLifecycle(rules []lifecycleRule) (int, error) {
	const where = "Bucket.LifecycleConfiguration"
	days, noncurrent := 0, 0
	for i, r := range rules {
		if r.Status != "Enabled" {
			return 0, bad("%s: rule %d (%q) has Status %q; every rule must be Enabled", where, i, r.Id, r.Status)
		}
		if r.ExpirationInDays == nil && r.ExpiredObjectDeleteMarker == nil && r.NoncurrentVersionExpiration == nil && r.AbortIncompleteMultipartUpload == nil {
			return 0, bad("%s: rule %d (%q) has no action", where, i, r.Id)
		}
		if m := r.ExpiredObjectDeleteMarker; m != nil {
			if !*m {
				return 0, bad("%s: rule %d (%q): ExpiredObjectDeleteMarker false is not a setting of bucketdesk", where, i, r.Id)
			}
			if r.ExpirationInDays != nil {
				return 0, bad("%s: rule %d (%q): ExpiredObjectDeleteMarker cannot be specified with Days or Date", where, i, r.Id)
			}
		}
		if e := r.ExpirationInDays; e != nil {
			if days != 0 {
				return 0, bad("%s: more than one rule with ExpirationInDays", where)
			}
			if *e < 1 {
				return 0, bad("%s: ExpirationInDays must be at least 1, got %d", where, *e)
			}
			days = int(*e)
		}
		if n := r.NoncurrentVersionExpiration; n != nil {
			if noncurrent != 0 {
				return 0, bad("%s: more than one rule with NoncurrentVersionExpiration", where)
			}
			noncurrent = int(n.NoncurrentDays)
			if noncurrent < 1 {
				return 0, bad("%s: NoncurrentDays must be at least 1, got %d", where, noncurrent)
			}
		}
		if a := r.AbortIncompleteMultipartUpload; a != nil && int(a.DaysAfterInitiation) != AbortIncompleteUploadDays {
			return 0, bad("%s: AbortIncompleteMultipartUpload.DaysAfterInitiation is %d; bucketdesk aborts incomplete uploads after %d days",
				where, a.DaysAfterInitiation, AbortIncompleteUploadDays)
		}
	}
	if noncurrent != 0 && noncurrent != days {
		return 0, bad("%s: NoncurrentDays %d differs from the expiry's ExpirationInDays %d", where, noncurrent, days)
	}
	return days, nil
}

type policyDocument struct {
	Version   string
	Id        string
	Statement statementList
}

type statement struct {
	Sid       string
	Effect    string
	Action    stringList
	Resource  stringList
	Condition json.RawMessage
}

// statementList is a policy's Statement, which IAM accepts as one object
// or a list.
type statementList []statement

func (l *statementList) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		var s statement
		if err := strictDecode(b, &s); err != nil {
			return err
		}
		*l = statementList{s}
		return nil
	}
	var ss []json.RawMessage
	if err := json.Unmarshal(b, &ss); err != nil {
		return err
	}
	for _, raw := range ss {
		var s statement
		if err := strictDecode(raw, &s); err != nil {
			return err
		}
		*l = append(*l, s)
	}
	return nil
}

// userMetadata is a user template's entry under MetadataKey.
type userMetadata struct {
	AccessUntil       string
	Expired           bool
	SftpSshPublicKeys []string
}

// parseMetadata reads the entry under MetadataKey of a template's
// Metadata (other entries are the console's or the author's, and are
// ignored).
func parseMetadata(raw json.RawMessage) (userMetadata, time.Time, error) {
	var m userMetadata
	if len(raw) == 0 {
		return m, time.Time{}, nil
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		return m, time.Time{}, bad("Metadata: %v", err)
	}
	e, ok := all[MetadataKey]
	if !ok {
		return m, time.Time{}, nil
	}
	if err := strictDecode(e, &m); err != nil {
		return m, time.Time{}, bad("Metadata.%s: %v", MetadataKey, err)
	}
	if m.AccessUntil == "" {
		if m.Expired || len(m.SftpSshPublicKeys) > 0 {
			return m, time.Time{}, bad("Metadata.%s: Expired and SftpSshPublicKeys need AccessUntil", MetadataKey)
		}
		return m, time.Time{}, nil
	}
	until, err := time.Parse(time.RFC3339, m.AccessUntil)
	if err != nil {
		return m, time.Time{}, bad("Metadata.%s.AccessUntil: %v", MetadataKey, err)
	}
	if len(m.SftpSshPublicKeys) > 0 && !m.Expired {
		return m, time.Time{}, bad("Metadata.%s: SftpSshPublicKeys are kept only for an expired user", MetadataKey)
	}
	return m, until, nil
}

func parseUser(rs map[string]resource, metadata json.RawMessage) (*core.UserSpec, error) {
	if err := onlyResources(rs, "User", "AccessKey1", "AccessKey1Secret", "AccessKey2", "AccessKey2Secret", "SftpRole", "SftpUser"); err != nil {
		return nil, err
	}
	var p struct {
		UserName *string
		Path     string
		Tags     []tag
		Policies []struct {
			PolicyName     string
			PolicyDocument policyDocument
		}
	}
	if err := properties(rs, "User", "AWS::IAM::User", &p); err != nil {
		return nil, err
	}
	if p.UserName == nil || *p.UserName == "" {
		return nil, bad("User.UserName is missing")
	}
	meta, until, err := parseMetadata(metadata)
	if err != nil {
		return nil, err
	}
	u := &core.UserSpec{Name: *p.UserName, AccessUntil: until, Expired: meta.Expired}
	for _, pol := range p.Policies {
		if pol.PolicyName != GrantsPolicyName {
			return nil, bad("User.Policies: unexpected policy %q", pol.PolicyName)
		}
		grants, err := parseGrants(pol.PolicyDocument, until)
		if err != nil {
			return nil, err
		}
		u.Grants = append(u.Grants, grants...)
	}
	for i := 1; i <= core.MaxAccessKeys; i++ {
		key := "AccessKey" + strconv.Itoa(i)
		_, hasKey := rs[key]
		_, hasSecret := rs[key+"Secret"]
		if hasKey != hasSecret {
			return nil, bad("%s and %sSecret must come together", key, key)
		}
		if !hasKey {
			continue
		}
		if u.AccessKeys != i-1 {
			return nil, bad("%s without AccessKey%d", key, i-1)
		}
		var k struct {
			UserName json.RawMessage
			Serial   *intValue
			Status   string
		}
		if err := properties(rs, key, "AWS::IAM::AccessKey", &k); err != nil {
			return nil, err
		}
		if want := keyStatus(u); k.Status != want && !(k.Status == "" && want == "Active") {
			return nil, bad("%s: unexpected Status %q; bucketdesk keys are %s (Inactive only once the user's access has expired)", key, k.Status, want)
		}
		serial := 1
		if k.Serial != nil {
			serial = int(*k.Serial)
		}
		if serial < 1 {
			return nil, bad("%s: unexpected Serial %d", key, serial)
		}
		var s struct {
			Name, Description string
			SecretString      json.RawMessage
		}
		if err := properties(rs, key+"Secret", "AWS::SecretsManager::Secret", &s); err != nil {
			return nil, err
		}
		u.AccessKeys = i
		u.KeySerials = append(u.KeySerials, serial)
	}
	_, hasRole := rs["SftpRole"]
	_, hasSftp := rs["SftpUser"]
	if hasRole != hasSftp {
		return nil, bad("SftpRole and SftpUser must come together")
	}
	if hasSftp && u.Expired {
		return nil, bad("SftpUser: an expired user has no Transfer user")
	}
	if u.Expired && len(meta.SftpSshPublicKeys) > 0 {
		u.SFTP = core.SFTP{Enabled: true, SSHKeys: meta.SftpSshPublicKeys}
	}
	if hasSftp {
		var role struct {
			AssumeRolePolicyDocument, Policies json.RawMessage
		}
		if err := properties(rs, "SftpRole", "AWS::IAM::Role", &role); err != nil {
			return nil, err
		}
		var s struct {
			ServerId              string
			UserName, Role        json.RawMessage
			HomeDirectoryType     string
			HomeDirectoryMappings []struct{ Entry, Target string }
			SshPublicKeys         []string
		}
		if err := properties(rs, "SftpUser", "AWS::Transfer::User", &s); err != nil {
			return nil, err
		}
		if s.HomeDirectoryType != "LOGICAL" {
			return nil, bad("SftpUser: unexpected HomeDirectoryType %q, want LOGICAL", s.HomeDirectoryType)
		}
		u.SFTP = core.SFTP{Enabled: true, SSHKeys: s.SshPublicKeys}
	}
	return u, nil
}

// Known actions, lower case: IAM action names are case-insensitive.
var (
	knownBucketActions = lowerSet(bucketActions)
	knownObjectActions = lowerSet(slices.Concat(readActions, writeActions))
)

func lowerSet(actions []string) map[string]bool {
	m := map[string]bool{}
	for _, a := range actions {
		m[strings.ToLower(a)] = true
	}
	return m
}

// parseGrants reads the grants from the object statements of a grants
// policy: each object resource <bucket>/<prefix>* is one grant, and the
// union of the actions allowed on it is its access level.
//
// Every statement must carry the user's end date until (from the
// template's metadata) as its DateLessThan aws:CurrentTime condition, and
// none when until is zero; the condition is then taken off the statement.
func parseGrants(doc policyDocument, until time.Time) ([]core.Grant, error) {
	var order []string
	actions := map[string]map[string]bool{}
	keys := map[string]string{} // bucket → KMS key, from the KMS statements
	for i, s := range doc.Statement {
		where := fmt.Sprintf("grants policy statement %d", i)
		if s.Effect != "Allow" {
			return nil, bad("%s: unexpected Effect %q", where, s.Effect)
		}
		rest, err := takeUntil(where, s.Condition, until)
		if err != nil {
			return nil, err
		}
		s.Condition = rest
		if len(s.Action) > 0 && strings.HasPrefix(strings.ToLower(s.Action[0]), "kms:") {
			if err := parseKMSStatement(where, s, keys); err != nil {
				return nil, err
			}
			continue
		}
		var object, bucketLevel bool
		for _, a := range s.Action {
			la := strings.ToLower(a)
			switch {
			case knownObjectActions[la]:
				object = true
			case knownBucketActions[la]:
				bucketLevel = true
			default:
				return nil, bad("%s: unexpected action %q", where, a)
			}
		}
		if object && bucketLevel {
			return nil, bad("%s mixes bucket and object actions", where)
		}
		if object && len(s.Condition) > 0 {
			return nil, bad("%s: unexpected Condition on object actions", where)
		}
		for _, r := range s.Resource {
			bucket, path, isObject, err := parseS3ARN(r)
			if err != nil {
				return nil, bad("%s: %v", where, err)
			}
			if isObject != object {
				return nil, bad("%s: resource %q does not fit its actions", where, r)
			}
			if !object {
				continue
			}
			prefix, ok := strings.CutSuffix(path, "*")
			if !ok || strings.ContainsAny(prefix, "*?") {
				return nil, bad("%s: object resource %q must be <bucket>/<prefix>*", where, r)
			}
			k := bucket + "/" + prefix
			if actions[k] == nil {
				actions[k] = map[string]bool{}
				order = append(order, k)
			}
			for _, a := range s.Action {
				actions[k][strings.ToLower(a)] = true
			}
		}
	}
	var grants []core.Grant
	for _, k := range order {
		bucket, prefix, _ := strings.Cut(k, "/")
		access, ok := accessOf(actions[k])
		if !ok {
			return nil, bad("grants policy allows an action set on %s that is neither read, write nor readwrite", k)
		}
		grants = append(grants, core.Grant{Bucket: bucket, Access: access, Prefix: prefix, KMSKeyARN: keys[bucket]})
	}
	return grants, nil
}

// takeUntil checks that a statement's condition holds exactly the end
// date until as DateLessThan aws:CurrentTime (nothing when until is zero)
// and returns the condition without it (nil when nothing is left).
func takeUntil(where string, cond json.RawMessage, until time.Time) (json.RawMessage, error) {
	var c map[string]json.RawMessage
	if len(cond) > 0 {
		if err := json.Unmarshal(cond, &c); err != nil {
			return nil, bad("%s: condition: %v", where, err)
		}
	}
	raw, has := c["DateLessThan"]
	switch {
	case !has && until.IsZero():
		return cond, nil
	case !has:
		return nil, bad("%s: missing the end date %s (DateLessThan aws:CurrentTime) that Metadata.%s.AccessUntil gives", where, FormatTime(until), MetadataKey)
	case until.IsZero():
		return nil, bad("%s: unexpected DateLessThan condition; Metadata.%s.AccessUntil gives no end date", where, MetadataKey)
	}
	var d map[string]string
	if err := strictDecode(raw, &d); err != nil || len(d) != 1 {
		return nil, bad("%s: DateLessThan must hold aws:CurrentTime only", where)
	}
	if got, err := time.Parse(time.RFC3339, d["aws:CurrentTime"]); err != nil || !got.Equal(until) {
		return nil, bad("%s: DateLessThan aws:CurrentTime %q differs from the end date %s", where, d["aws:CurrentTime"], FormatTime(until))
	}
	delete(c, "DateLessThan")
	if len(c) == 0 {
		return nil, nil
	}
	rest, err := json.Marshal(c)
	if err != nil {
		return nil, bad("%s: condition: %v", where, err)
	}
	return rest, nil
}

// parseKMSStatement reads a statement that lets the user use a granted
// bucket's KMS key through S3 and records the key of each bucket its
// encryption context names.
func parseKMSStatement(where string, s statement, keys map[string]string) error {
	for _, a := range s.Action {
		if la := strings.ToLower(a); la != "kms:decrypt" && la != "kms:generatedatakey" {
			return bad("%s: unexpected action %q", where, a)
		}
	}
	if len(s.Resource) != 1 || !strings.Contains(s.Resource[0], ":key/") {
		return bad("%s: a KMS statement names one key ARN, got %v", where, s.Resource)
	}
	var c struct {
		StringEquals map[string]string
		StringLike   map[string]stringList
	}
	if err := strictDecode(s.Condition, &c); err != nil {
		return bad("%s: condition: %v", where, err)
	}
	if len(c.StringEquals) != 1 || !strings.HasPrefix(c.StringEquals["kms:ViaService"], "s3.") || len(c.StringLike) != 1 {
		return bad("%s: a KMS statement must be limited to S3 (kms:ViaService) and granted buckets", where)
	}
	contexts := c.StringLike["kms:EncryptionContext:aws:s3:arn"]
	if len(contexts) == 0 {
		return bad("%s: a KMS statement must name the granted buckets' encryption context", where)
	}
	for _, arn := range contexts {
		bucket, path, _, err := parseS3ARN(arn)
		if err != nil || path != "" && path != "*" {
			return bad("%s: encryption context %q is not a bucket's or its objects' ARN", where, arn)
		}
		keys[bucket] = s.Resource[0]
	}
	return nil
}

func accessOf(set map[string]bool) (core.Access, bool) {
	has := func(actions []string) bool {
		for _, a := range actions {
			if !set[strings.ToLower(a)] {
				return false
			}
		}
		return true
	}
	r, w := has(readActions), has(writeActions)
	n := 0
	if r {
		n += len(readActions)
	}
	if w {
		n += len(writeActions)
	}
	if n != len(set) {
		return "", false
	}
	switch {
	case r && w:
		return core.AccessReadWrite, true
	case r:
		return core.AccessRead, true
	case w:
		return core.AccessWrite, true
	}
	return "", false
}

// parseS3ARN splits arn:<partition>:s3:::<bucket>[/<path>].
func parseS3ARN(arn string) (bucket, path string, object bool, err error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !strings.HasPrefix(parts[1], "aws") || parts[2] != "s3" || parts[3] != "" || parts[4] != "" {
		return "", "", false, fmt.Errorf("unexpected resource %q; want an S3 bucket or object ARN", arn)
	}
	bucket, path, object = strings.Cut(parts[5], "/")
	if bucket == "" || strings.ContainsAny(bucket, "*?$") {
		return "", "", false, fmt.Errorf("unexpected resource %q; want one named bucket", arn)
	}
	return bucket, path, object, nil
}
