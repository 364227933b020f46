package stacks

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"bucketdesk/internal/core"
)

// Fixed names and values of the templates (docs/templates.md).
const (
	// CapabilityNamedIAM is the capability user stacks need: they create
	// IAM users with explicit names.
	CapabilityNamedIAM = "CAPABILITY_NAMED_IAM"
	// GrantsPolicyName names the inline policy holding a user's grants.
	GrantsPolicyName = "bucketdesk-grants"
	// UserPath is the IAM path of every managed user.
	UserPath = "/bucketdesk/"
	// MaxUserPolicySize is IAM's limit on the total size of a user's
	// inline policies, counted without whitespace.
	MaxUserPolicySize = 2048

	// AbortIncompleteUploadDays is when every bucket's lifecycle aborts an
	// incomplete multipart upload, counted from its initiation.
	AbortIncompleteUploadDays = 7
	// The ids of a bucket's lifecycle rules.
	RuleAbortIncompleteUploads = "abort-incomplete-uploads"
	RuleExpiry                 = "expiry"
	RuleExpiredDeleteMarkers   = "expired-delete-markers"

	templateFormatVersion = "2010-09-09"
	policyVersion         = "2012-10-17"
	transferPrincipal     = "transfer.amazonaws.com"
)

// The least-privilege S3 actions of a grant.
var (
	bucketActions = []string{"s3:GetBucketLocation", "s3:ListBucket"}
	readActions   = []string{"s3:GetObject", "s3:GetObjectVersion"}
	writeActions  = []string{"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}
)

func objectActions(a core.Access) []string {
	switch a {
	case core.AccessRead:
		return readActions
	case core.AccessWrite:
		return writeActions
	}
	return slices.Concat(readActions, writeActions)
}

// obj is a JSON object of a template; encoding/json sorts its keys, which
// makes the bytes deterministic.
type obj = map[string]any

func ref(logicalID string) obj { return obj{"Ref": logicalID} }

func getAtt(logicalID, attr string) obj { return obj{"Fn::GetAtt": []any{logicalID, attr}} }

func sub(s string) obj { return obj{"Fn::Sub": s} }

// Render returns the template JSON of spec in project p (deterministic
// bytes: the same spec gives the same template) and the capabilities that
// creating it needs. An invalid spec, a bucket named as the project's log
// bucket, a user with SFTP in a project without a Transfer server, or
// grants whose policy exceeds IAM's size limit are errors wrapping
// core.ErrInvalid.
func Render(p *core.Project, spec core.Spec) (template string, capabilities []string, err error) {
	if err := spec.Validate(); err != nil {
		return "", nil, err
	}
	if p == nil || p.ID == "" {
		return "", nil, invalid("project", "is required to render a template")
	}
	spec = Canonical(spec)
	var t obj
	if spec.Bucket != nil {
		if p.LogBucket != "" && spec.Bucket.Name == p.LogBucket {
			return "", nil, invalid("name", "%s is the server access log bucket of project %s; a bucket cannot log into itself "+
				"(every log object written would be logged again), so choose another name", p.LogBucket, p.ID)
		}
		t = bucketTemplate(p, spec.Bucket)
	} else {
		if t, err = userTemplate(p, spec.User); err != nil {
			return "", nil, err
		}
		capabilities = []string{CapabilityNamedIAM}
	}
	return encode(t, "  "), capabilities, nil
}

func invalid(field, format string, args ...any) error {
	return &core.ValidationError{Problems: []core.FieldError{{Field: field, Message: fmt.Sprintf(format, args...)}}}
}

// encode marshals v with sorted keys; HTML escaping is off so that
// prefixes with & < > stay readable and are counted as IAM counts them.
func encode(v any, indent string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		// Only maps, slices, strings, ints and bools are encoded here.
		panic("stacks: encoding a template: " + err.Error())
	}
	if indent == "" {
		return strings.TrimSuffix(buf.String(), "\n")
	}
	return buf.String()
}

func bucketTemplate(p *core.Project, b *core.BucketSpec) obj {
	sse := obj{"ServerSideEncryptionByDefault": obj{"SSEAlgorithm": "AES256"}}
	if b.Encryption.Type == core.EncryptionKMS {
		sse = obj{
			"ServerSideEncryptionByDefault": obj{"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": b.Encryption.KMSKeyARN},
			// Bucket keys cut KMS requests (and their cost) by orders of magnitude.
			"BucketKeyEnabled": true,
		}
	}
	props := obj{
		"BucketName": b.Name,
		"PublicAccessBlockConfiguration": obj{
			"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
		},
		"BucketEncryption":       obj{"ServerSideEncryptionConfiguration": []any{sse}},
		"OwnershipControls":      obj{"Rules": []any{obj{"ObjectOwnership": "BucketOwnerEnforced"}}},
		"LifecycleConfiguration": obj{"Rules": lifecycleRules(b)},
	}
	// A bucket that was never versioned has no VersioningConfiguration: a
	// suspended bucket writes a delete marker for every delete, and S3
	// cannot make a bucket unversioned again once it has a status.
	switch {
	case b.Versioning:
		props["VersioningConfiguration"] = obj{"Status": "Enabled"}
	case b.VersioningSuspended:
		props["VersioningConfiguration"] = obj{"Status": "Suspended"}
	}
	if len(b.Tags) > 0 {
		props["Tags"] = tagList(b.Tags)
	}
	// Server access logging (Security Hub S3.9) into the project's log
	// bucket, one folder per bucket; a project without a log bucket gets
	// none.
	if p.LogBucket != "" {
		props["LoggingConfiguration"] = obj{"DestinationBucketName": p.LogBucket, "LogFilePrefix": LogFilePrefix(b.Name)}
	}
	tlsOnly := obj{
		"Sid":       "DenyInsecureTransport",
		"Effect":    "Deny",
		"Principal": "*",
		"Action":    "s3:*",
		"Resource":  []any{getAtt("Bucket", "Arn"), sub("${Bucket.Arn}/*")},
		"Condition": obj{"Bool": obj{"aws:SecureTransport": "false"}},
	}
	return obj{
		"AWSTemplateFormatVersion": templateFormatVersion,
		"Description":              fmt.Sprintf("bucketdesk bucket %s of project %s", b.Name, p.ID),
		"Resources": obj{
			"Bucket": obj{"Type": "AWS::S3::Bucket", "Properties": props},
			// Kept when the stack is deleted (or the policy replaced): if
			// the bucket cannot be deleted (it holds objects), its data
			// keeps its HTTPS-only policy; if it can, S3 removes the
			// policy with it.
			"BucketPolicy": obj{"Type": "AWS::S3::BucketPolicy", "DeletionPolicy": "RetainExceptOnCreate", "UpdateReplacePolicy": "Retain", "Properties": obj{
				"Bucket":         ref("Bucket"),
				"PolicyDocument": obj{"Version": policyVersion, "Statement": []any{tlsOnly}},
			}},
		},
		"Outputs": obj{
			"BucketName": obj{"Value": ref("Bucket")},
			"BucketArn":  obj{"Value": getAtt("Bucket", "Arn")},
		},
	}
}

// LogFilePrefix is the key prefix of a bucket's server access logs in its
// project's log bucket: the bucket's name as a folder.
func LogFilePrefix(bucket string) string { return bucket + "/" }

// lifecycleRules are a bucket's lifecycle rules (docs/templates.md): every
// bucket aborts incomplete multipart uploads; an expiry expires current
// objects and, in a bucket that is or was versioned, noncurrent versions
// after the same days, and removes expired delete markers in a rule of
// their own (S3 refuses ExpiredObjectDeleteMarker in a rule with Days or
// Date).
func lifecycleRules(b *core.BucketSpec) []any {
	rules := []any{obj{
		"Id": RuleAbortIncompleteUploads, "Status": "Enabled",
		"AbortIncompleteMultipartUpload": obj{"DaysAfterInitiation": AbortIncompleteUploadDays},
	}}
	if b.ExpiryDays <= 0 {
		return rules
	}
	versioned := b.Versioning || b.VersioningSuspended
	expiry := obj{"Id": RuleExpiry, "Status": "Enabled", "ExpirationInDays": b.ExpiryDays}
	if versioned {
		expiry["NoncurrentVersionExpiration"] = obj{"NoncurrentDays": b.ExpiryDays}
	}
	rules = append(rules, expiry)
	if versioned {
		rules = append(rules, obj{"Id": RuleExpiredDeleteMarkers, "Status": "Enabled", "ExpiredObjectDeleteMarker": true})
	}
	return rules
}

// tagList renders tags as CloudFormation's [{Key, Value}], sorted by key.
func tagList(tags map[string]string) []any {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = obj{"Key": k, "Value": tags[k]}
	}
	return out
}

func userTemplate(p *core.Project, u *core.UserSpec) (obj, error) {
	if u.SFTP.Enabled && p.TransferServerID == "" {
		return nil, invalid("sftp", "SFTP needs a Transfer server, and project %s has none configured", p.ID)
	}
	userProps := obj{
		"UserName": u.Name,
		"Path":     UserPath,
		"Tags":     tagList(Tags(p.ID, core.KindUser, u.Name)),
	}
	resources := obj{"User": obj{"Type": "AWS::IAM::User", "Properties": userProps}}
	outputs := obj{
		"UserName": obj{"Value": ref("User")},
		"UserArn":  obj{"Value": getAtt("User", "Arn")},
	}
	var policies []any
	if len(u.Grants) > 0 {
		doc := grantsPolicy(p.Region, u.Grants, u.AccessUntil)
		if n := len(encode(doc, "")); n > MaxUserPolicySize {
			return nil, invalid("grants", "these grants need an IAM policy of %d characters and IAM allows %d per user; "+
				"use fewer grants, shorter prefixes, or the same prefixes on several buckets", n, MaxUserPolicySize)
		}
		policies = []any{obj{"PolicyName": GrantsPolicyName, "PolicyDocument": doc}}
		userProps["Policies"] = policies
	}
	for i := range u.AccessKeys {
		key := "AccessKey" + strconv.Itoa(i+1)
		resources[key] = obj{"Type": "AWS::IAM::AccessKey", "Properties": obj{
			"UserName": ref("User"),
			// A new serial makes CloudFormation replace the key: that is rotation.
			"Serial": u.KeySerial(i),
			"Status": keyStatus(u),
		}}
		resources[key+"Secret"] = obj{"Type": "AWS::SecretsManager::Secret", "Properties": obj{
			"Name": fmt.Sprintf("bucketdesk/%s/%s/key%d", p.ID, secretSegment(u.Name), i+1),
			"Description": fmt.Sprintf("Access key %d of the bucketdesk user %s in project %s; shared only through one-time links",
				i+1, u.Name, p.ID),
			"SecretString": sub(fmt.Sprintf(`{"AccessKeyId":"${%[1]s}","SecretAccessKey":"${%[1]s.SecretAccessKey}"}`, key)),
		}}
		outputs[key+"Id"] = obj{"Value": ref(key)}
		// The secret's ARN only: the value never becomes an output.
		outputs[key+"SecretArn"] = obj{"Value": ref(key + "Secret")}
	}
	// An expired user keeps its SFTP settings in the template's metadata
	// (so that extending its end date brings them back), not its
	// Transfer user: nobody logs in as it any more.
	if u.SFTP.Enabled && !u.Expired {
		trust := obj{"Effect": "Allow", "Principal": obj{"Service": transferPrincipal}, "Action": "sts:AssumeRole"}
		if p.AccountID != "" {
			// Confused-deputy guard: only Transfer acting for this account.
			trust["Condition"] = obj{"StringEquals": obj{"aws:SourceAccount": p.AccountID}}
		}
		resources["SftpRole"] = obj{"Type": "AWS::IAM::Role", "Properties": obj{
			"AssumeRolePolicyDocument": obj{"Version": policyVersion, "Statement": []any{trust}},
			"Policies":                 policies,
		}}
		resources["SftpUser"] = obj{"Type": "AWS::Transfer::User", "Properties": obj{
			"ServerId":              p.TransferServerID,
			"UserName":              ref("User"),
			"Role":                  getAtt("SftpRole", "Arn"),
			"HomeDirectoryType":     "LOGICAL",
			"HomeDirectoryMappings": homeMappings(u.Grants),
			"SshPublicKeys":         toAny(u.SFTP.SSHKeys),
		}}
		outputs["SftpServerId"] = obj{"Value": p.TransferServerID}
		outputs["SftpUserName"] = obj{"Value": ref("User")}
	}
	t := obj{
		"AWSTemplateFormatVersion": templateFormatVersion,
		"Description":              fmt.Sprintf("bucketdesk user %s of project %s", u.Name, p.ID),
		"Resources":                resources,
		"Outputs":                  outputs,
	}
	if m := accessMetadata(u); m != nil {
		t["Metadata"] = obj{MetadataKey: m}
	}
	return t, nil
}

// MetadataKey names the entry of a user template's Metadata that holds
// its end date, whether it expired, and the SFTP keys of an expired SFTP
// user: what the resources alone cannot say back to Parse.
const MetadataKey = "Bucketdesk"

// accessMetadata is a user's entry under MetadataKey, or nil when the
// user has no end date.
func accessMetadata(u *core.UserSpec) obj {
	if u.AccessUntil.IsZero() {
		return nil
	}
	m := obj{"AccessUntil": FormatTime(u.AccessUntil)}
	if u.Expired {
		m["Expired"] = true
		if u.SFTP.Enabled {
			m["SftpSshPublicKeys"] = toAny(u.SFTP.SSHKeys)
		}
	}
	return m
}

// FormatTime writes an end date as IAM's ISO 8601 date-time: UTC, whole
// seconds ("2026-12-31T17:00:00Z").
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// keyStatus is the Status of a user's access keys: Inactive once the
// user's access has expired, so that IAM refuses the keys even for
// actions another policy might allow.
func keyStatus(u *core.UserSpec) string {
	if u.Expired {
		return "Inactive"
	}
	return "Active"
}

// untilCondition adds the end date to every Allow statement of stmts: a
// DateLessThan aws:CurrentTime condition next to the statement's others
// (the operators of a condition all must hold). A zero until adds none.
func untilCondition(stmts []any, until time.Time) []any {
	if until.IsZero() {
		return stmts
	}
	for _, s := range stmts {
		st := s.(obj)
		c, _ := st["Condition"].(obj)
		if c == nil {
			c = obj{}
		}
		c["DateLessThan"] = obj{"aws:CurrentTime": FormatTime(until)}
		st["Condition"] = c
	}
	return stmts
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// secretSegment is the user's part of a secret name. Secrets Manager names
// do not allow the comma that IAM user names do; such names (and, so that
// the mapping stays one-to-one, names containing "--") get a hashed form.
func secretSegment(name string) string {
	if !strings.Contains(name, ",") && !strings.Contains(name, "--") {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return strings.ReplaceAll(name, ",", "-") + "--" + hex.EncodeToString(sum[:4])
}

// homeMappings maps one logical SFTP folder per home folder of the grants
// (HomeFolders), each onto the same path.
func homeMappings(grants []core.Grant) []any {
	var out []any
	for _, path := range HomeFolders(grants) {
		out = append(out, obj{"Entry": path, "Target": path})
	}
	return out
}

// HomeFolders returns the SFTP home folders of canonical (sorted) grants:
// one "/bucket" or "/bucket/prefix" per granted bucket or prefix. A prefix
// of a bucket that is granted whole is already visible under the bucket's
// folder, so it gets no folder of its own.
func HomeFolders(grants []core.Grant) []string {
	whole := map[string]bool{}
	for _, g := range grants {
		if g.Prefix == "" {
			whole[g.Bucket] = true
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, g := range grants {
		if g.Prefix != "" && whole[g.Bucket] {
			continue
		}
		path := "/" + g.Bucket
		if p := strings.TrimRight(g.Prefix, "/"); p != "" {
			path += "/" + p
		}
		if seen[path] {
			continue
		}
		seen[path] = true
		out = append(out, path)
	}
	return out
}

// grantsPolicy renders the least-privilege policy of canonical (sorted)
// grants. To stay within IAM's 2,048 characters it groups statements
// without widening any of them:
//
//   - GetBucketLocation and ListBucket on the buckets granted whole;
//   - GetBucketLocation on the buckets granted only below prefixes;
//   - ListBucket with an s3:prefix condition, one statement per set of
//     prefixes, on the buckets that have exactly that set: per prefix
//     (a folder, canonically ending in "/") "<folder>" and "<folder>/*",
//     so that listing the folder with or without its slash works and
//     listing a sibling ("<folder>-2024/") does not (a condition
//     applies to every resource of its statement, so buckets with
//     different prefixes cannot share one);
//   - object actions, one statement per access level, on
//     arn:aws:s3:::<bucket>/<prefix>* where <prefix> ends in "/".
//
// A user with an end date gets it on every statement (untilCondition).
func grantsPolicy(region string, grants []core.Grant, until time.Time) obj {
	part := core.Partition(region)
	bucketARN := func(b string) string { return "arn:" + part + ":s3:::" + b }
	var buckets []string
	whole := map[string]bool{}
	prefixes := map[string][]string{}
	for _, g := range grants {
		if !slices.Contains(buckets, g.Bucket) {
			buckets = append(buckets, g.Bucket)
		}
		if g.Prefix == "" {
			whole[g.Bucket] = true
		} else {
			// The folder's keys, and the folder itself named without its
			// slash ("reports" lists "reports/"); "reports/*" also covers
			// "reports/". Never "reports*", which is reports-2024/ too.
			prefixes[g.Bucket] = append(prefixes[g.Bucket], strings.TrimSuffix(g.Prefix, "/"), g.Prefix+"*")
		}
	}
	var wholeARNs, partARNs []any
	var groupKeys []string
	groups := map[string][]any{}
	for _, b := range buckets {
		if whole[b] {
			wholeARNs = append(wholeARNs, bucketARN(b))
			continue
		}
		partARNs = append(partARNs, bucketARN(b))
		k := strings.Join(prefixes[b], "\x00")
		if _, ok := groups[k]; !ok {
			groupKeys = append(groupKeys, k)
		}
		groups[k] = append(groups[k], bucketARN(b))
	}
	allow := func(actions []string, resources []any) obj {
		return obj{"Effect": "Allow", "Action": toAny(actions), "Resource": resources}
	}
	var stmts []any
	if len(wholeARNs) > 0 {
		stmts = append(stmts, allow(bucketActions, wholeARNs))
	}
	if len(partARNs) > 0 {
		stmts = append(stmts, allow(bucketActions[:1], partARNs))
	}
	for _, k := range groupKeys {
		s := allow(bucketActions[1:], groups[k])
		s["Condition"] = obj{"StringLike": obj{"s3:prefix": toAny(strings.Split(k, "\x00"))}}
		stmts = append(stmts, s)
	}
	for _, a := range []core.Access{core.AccessRead, core.AccessWrite, core.AccessReadWrite} {
		var objects []any
		for _, g := range grants {
			if g.Access == a {
				objects = append(objects, bucketARN(g.Bucket)+"/"+g.Prefix+"*")
			}
		}
		if len(objects) > 0 {
			stmts = append(stmts, allow(objectActions(a), objects))
		}
	}
	return obj{"Version": policyVersion, "Statement": untilCondition(append(stmts, kmsStatements(region, grants)...), until)}
}

// kmsStatements let a user use the keys of its granted SSE-KMS buckets,
// only through S3 in the project's region and only for those buckets'
// objects: kms:Decrypt to read, and kms:GenerateDataKey too to write.
// The keys are named in Resource (never "*"), one statement per key and
// action set; buckets with SSE-S3 need none. The encryption context is
// the bucket's ARN with S3 Bucket Keys (which bucket templates enable) and
// the object's ARN without them, so both are allowed.
func kmsStatements(region string, grants []core.Grant) []any {
	part := core.Partition(region)
	type group struct {
		key      string
		write    bool
		contexts []any
	}
	var groups []*group
	seen := map[string]bool{}
	for _, g := range grants {
		if g.KMSKeyARN == "" || seen[g.Bucket] {
			continue
		}
		seen[g.Bucket] = true
		write := false
		for _, h := range grants {
			write = write || h.Bucket == g.Bucket && h.Access != core.AccessRead
		}
		arn := "arn:" + part + ":s3:::" + g.Bucket
		i := slices.IndexFunc(groups, func(x *group) bool { return x.key == g.KMSKeyARN && x.write == write })
		if i < 0 {
			groups = append(groups, &group{key: g.KMSKeyARN, write: write})
			i = len(groups) - 1
		}
		groups[i].contexts = append(groups[i].contexts, arn, arn+"/*")
	}
	stmts := make([]any, 0, len(groups))
	for _, x := range groups {
		actions := []any{"kms:Decrypt"}
		if x.write {
			actions = append(actions, "kms:GenerateDataKey")
		}
		stmts = append(stmts, obj{"Effect": "Allow", "Action": actions, "Resource": x.key, "Condition": obj{
			"StringEquals": obj{"kms:ViaService": "s3." + region + "." + dnsSuffix(part)},
			"StringLike":   obj{"kms:EncryptionContext:aws:s3:arn": x.contexts},
		}})
	}
	return stmts
}

// dnsSuffix is the domain of a partition's service endpoints.
func dnsSuffix(part string) string {
	if part == "aws-cn" {
		return "amazonaws.com.cn"
	}
	return "amazonaws.com"
}
