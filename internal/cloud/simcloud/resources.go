package simcloud

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"bucketdesk/internal/core"
)

// schema checks resolved property values, in the spirit of the
// CloudFormation resource schemas (only what bucketdesk's templates use).
type schema struct {
	kind     byte // 'o' object, 'a' array, 's' string, 'b' bool, 'i' integer, 'p' policy document, '*' anything
	props    map[string]*schema
	required []string
	elem     *schema
	enum     []string
	pattern  *regexp.Regexp
	// iamParam names the IAM API parameter a policy document ('p') is
	// sent as; IAM allows only iamPolicyChars in it. Empty for policies
	// that are not IAM's (S3 bucket policies).
	iamParam string
}

var (
	sString = &schema{kind: 's'}
	sBool   = &schema{kind: 'b'}
	sInt    = &schema{kind: 'i'}
	sAny    = &schema{kind: '*'}
	sPolicy = &schema{kind: 'p'}
	// IAM policy documents: PutUserPolicy's and PutRolePolicy's
	// PolicyDocument, CreateRole's AssumeRolePolicyDocument.
	sIAMPolicy      = &schema{kind: 'p', iamParam: "policyDocument"}
	sIAMTrustPolicy = &schema{kind: 'p', iamParam: "assumeRolePolicyDocument"}
	sTags           = arr(obj([]string{"Key", "Value"}, map[string]*schema{"Key": sString, "Value": sString}))
)

func obj(required []string, props map[string]*schema) *schema {
	return &schema{kind: 'o', props: props, required: required}
}
func arr(elem *schema) *schema { return &schema{kind: 'a', elem: elem} }
func enum(values ...string) *schema {
	return &schema{kind: 's', enum: values}
}
func pattern(re string) *schema { return &schema{kind: 's', pattern: regexp.MustCompile(re)} }

func typeOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "JSONObject"
	case []any:
		return "JSONArray"
	case string:
		return "String"
	case bool:
		return "Boolean"
	case json.Number:
		return "Number"
	}
	return "null"
}

// check returns a problem with v, in CloudFormation's wording, or "".
func (sc *schema) check(path string, v any) string {
	switch sc.kind {
	case '*':
		return ""
	case 'p':
		if sc.iamParam != "" {
			if msg := iamPolicyCharsProblem(sc.iamParam, v); msg != "" {
				return msg
			}
		}
		if s, ok := v.(string); ok {
			var m map[string]any
			if json.Unmarshal([]byte(s), &m) != nil {
				return "Syntax errors in policy. (Service: Iam, Status Code: 400, Error Code: MalformedPolicyDocument)"
			}
			v = m
		}
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: expected type: JSONObject, found: %s", path, typeOf(v))
		}
		if _, ok := m["Statement"]; !ok {
			return "Syntax errors in policy. (Service: Iam, Status Code: 400, Error Code: MalformedPolicyDocument)"
		}
		return iamDateConditionProblem(m)
	case 'o':
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: expected type: JSONObject, found: %s", path, typeOf(v))
		}
		for _, r := range sc.required {
			if _, ok := m[r]; !ok {
				return fmt.Sprintf("%s: required key [%s] not found", path, r)
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := sc.props[k]
			if p == nil {
				return fmt.Sprintf("%s: extraneous key [%s] is not permitted", path, k)
			}
			if msg := p.check(path+"/"+k, m[k]); msg != "" {
				return msg
			}
		}
	case 'a':
		a, ok := v.([]any)
		if !ok {
			return fmt.Sprintf("%s: expected type: JSONArray, found: %s", path, typeOf(v))
		}
		for i, e := range a {
			if msg := sc.elem.check(path+"/"+strconv.Itoa(i), e); msg != "" {
				return msg
			}
		}
	case 's':
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case json.Number:
			s = x.String()
		default:
			return fmt.Sprintf("%s: expected type: String, found: %s", path, typeOf(v))
		}
		if sc.enum != nil && !contains(sc.enum, s) {
			return fmt.Sprintf("%s: failed validation constraint for keyword [enum]", path)
		}
		if sc.pattern != nil && !sc.pattern.MatchString(s) {
			return fmt.Sprintf("%s: failed validation constraint for keyword [pattern]", path)
		}
	case 'b':
		switch x := v.(type) {
		case bool:
		case string:
			if x != "true" && x != "false" {
				return fmt.Sprintf("%s: expected type: Boolean, found: String", path)
			}
		default:
			return fmt.Sprintf("%s: expected type: Boolean, found: %s", path, typeOf(v))
		}
	case 'i':
		var s string
		switch x := v.(type) {
		case json.Number:
			s = x.String()
		case string:
			s = x
		default:
			return fmt.Sprintf("%s: expected type: Integer, found: %s", path, typeOf(v))
		}
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			return fmt.Sprintf("%s: expected type: Integer, found: %s", path, typeOf(v))
		}
	default:
		return fmt.Sprintf("%s: unknown schema kind %q", path, sc.kind)
	}
	return ""
}

// iamPolicyCharsPattern is the pattern of IAM's policy document parameters
// (IAM API reference, PutUserPolicy's PolicyDocument): tab, line feed,
// carriage return and U+0020 to U+00FF.
const iamPolicyCharsPattern = `[\u0009\u000A\u000D\u0020-\u00FF]+`

// iamPolicyCharsProblem returns IAM's answer to a policy document (a JSON
// string, or the object CloudFormation serialises) holding a character
// outside iamPolicyCharsPattern, or "". CloudFormation's IAM handlers send
// the document as it is, so the resource fails when IAM refuses it.
func iamPolicyCharsProblem(param string, v any) string {
	bad := false
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			bad = bad || strings.ContainsFunc(x, func(r rune) bool {
				return !(r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xff)
			})
		case map[string]any:
			for k, e := range x {
				walk(k)
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	if !bad {
		return ""
	}
	return fmt.Sprintf("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s "+
		"(Service: Iam, Status Code: 400, Error Code: ValidationError)", param, iamPolicyCharsPattern)
}

// iamDateOperators are IAM's date condition operators, with their
// IfExists forms.
var iamDateOperators = map[string]bool{}

func init() {
	for _, op := range []string{"DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals"} {
		iamDateOperators[op] = true
		iamDateOperators[op+"IfExists"] = true
	}
}

// iamDateConditionProblem returns IAM's answer to a policy whose date
// condition operator compares with a value that is not a date: IAM takes
// an ISO 8601 date or date-time, or a Unix epoch time in seconds, and
// refuses the document otherwise. Policy variables (${aws:…}) are not
// allowed in date values.
func iamDateConditionProblem(doc map[string]any) string {
	var stmts []any
	switch s := doc["Statement"].(type) {
	case []any:
		stmts = s
	case map[string]any:
		stmts = []any{s}
	}
	for _, st := range stmts {
		st, _ := st.(map[string]any)
		cond, _ := st["Condition"].(map[string]any)
		for op, keys := range cond {
			keys, _ := keys.(map[string]any)
			if !iamDateOperators[op] {
				continue
			}
			for _, v := range keys {
				vals, ok := v.([]any)
				if !ok {
					vals = []any{v}
				}
				for _, x := range vals {
					if !iamDateValue(x) {
						return "Syntax errors in policy. (Service: Iam, Status Code: 400, Error Code: MalformedPolicyDocument)"
					}
				}
			}
		}
	}
	return ""
}

// iamDateLayouts are the ISO 8601 forms a date condition value may take.
var iamDateLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z07:00", "2006-01-02"}

// iamDateValue reports whether x is a value IAM's date operators accept.
func iamDateValue(x any) bool {
	var s string
	switch v := x.(type) {
	case string:
		s = v
	case json.Number:
		s = v.String()
	default:
		return false
	}
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return true // epoch seconds
	}
	for _, l := range iamDateLayouts {
		if _, err := time.Parse(l, s); err == nil {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// rctx is what a resource handler works with.
type rctx struct {
	s       *Sandbox
	st      *stack
	c       *change
	logical string
}

// rtype is one simulated resource type.
type rtype struct {
	schema *schema // the properties, an object schema
	// replace lists the properties whose change replaces the resource.
	replace []string
	attrs   []string
	// secret lists properties kept only sealed (never in record.Resolved).
	secret []string
	// iam marks IAM resources; iamName is the property naming one, whose
	// use requires CAPABILITY_NAMED_IAM.
	iam     bool
	iamName string
	// create fills r.Physical, r.Attrs and r.Sealed, or fails with the
	// reason. update changes r (a copy of the current record) in place.
	create func(c *rctx, r *record, p map[string]any) error
	update func(c *rctx, r *record, p map[string]any) error
	delete func(c *rctx, r *record) error
}

var iamPath = pattern(`^/(.*/)?$`)
var inlinePolicies = arr(obj([]string{"PolicyDocument", "PolicyName"}, map[string]*schema{"PolicyDocument": sIAMPolicy, "PolicyName": sString}))

// types are the resource types the sandbox simulates.
var types = map[string]*rtype{
	"AWS::S3::Bucket": {
		schema: obj(nil, map[string]*schema{
			"BucketName": sString,
			"PublicAccessBlockConfiguration": obj(nil, map[string]*schema{
				"BlockPublicAcls": sBool, "BlockPublicPolicy": sBool, "IgnorePublicAcls": sBool, "RestrictPublicBuckets": sBool,
			}),
			"BucketEncryption": obj([]string{"ServerSideEncryptionConfiguration"}, map[string]*schema{
				"ServerSideEncryptionConfiguration": arr(obj(nil, map[string]*schema{
					"BucketKeyEnabled": sBool,
					"ServerSideEncryptionByDefault": obj([]string{"SSEAlgorithm"}, map[string]*schema{
						"SSEAlgorithm":   enum("AES256", "aws:kms", "aws:kms:dsse"),
						"KMSMasterKeyID": sString,
					}),
				})),
			}),
			"OwnershipControls": obj([]string{"Rules"}, map[string]*schema{
				"Rules": arr(obj([]string{"ObjectOwnership"}, map[string]*schema{
					"ObjectOwnership": enum("BucketOwnerEnforced", "ObjectWriter", "BucketOwnerPreferred"),
				})),
			}),
			"VersioningConfiguration": obj([]string{"Status"}, map[string]*schema{"Status": enum("Enabled", "Suspended")}),
			"LifecycleConfiguration": obj([]string{"Rules"}, map[string]*schema{
				"Rules": arr(obj([]string{"Status"}, map[string]*schema{
					"Id": sString, "Status": enum("Enabled", "Disabled"), "ExpirationInDays": sInt, "ExpirationDate": sString,
					"ExpiredObjectDeleteMarker": sBool,
					"Prefix":                    sString, "NoncurrentVersionExpirationInDays": sInt,
					"NoncurrentVersionExpiration": obj([]string{"NoncurrentDays"}, map[string]*schema{
						"NoncurrentDays": sInt, "NewerNoncurrentVersions": sInt,
					}),
					"AbortIncompleteMultipartUpload": obj([]string{"DaysAfterInitiation"}, map[string]*schema{"DaysAfterInitiation": sInt}),
				})),
			}),
			"LoggingConfiguration": loggingSchema,
			"Tags":                 sTags,
		}),
		replace: []string{"BucketName"},
		attrs:   []string{"Arn", "DomainName", "RegionalDomainName", "DualStackDomainName", "WebsiteURL"},
		create:  createBucket,
		update:  updateBucket,
		delete:  deleteBucket,
	},
	"AWS::S3::BucketPolicy": {
		schema:  obj([]string{"Bucket", "PolicyDocument"}, map[string]*schema{"Bucket": sString, "PolicyDocument": sPolicy}),
		replace: []string{"Bucket"},
		create:  createBucketPolicy,
		update:  func(c *rctx, r *record, p map[string]any) error { return nil },
		delete:  func(c *rctx, r *record) error { return nil },
	},
	"AWS::IAM::User": {
		schema: obj(nil, map[string]*schema{
			"UserName": pattern(`^[\w+=,.@-]{1,64}$`), "Path": iamPath, "Tags": sTags, "Policies": inlinePolicies,
			"ManagedPolicyArns": arr(sString), "Groups": arr(sString), "PermissionsBoundary": sString, "LoginProfile": sAny,
		}),
		replace: []string{"UserName"},
		attrs:   []string{"Arn"},
		iam:     true,
		iamName: "UserName",
		create:  createUser,
		update:  func(c *rctx, r *record, p map[string]any) error { r.Attrs = userAttrs(c, r.Physical, p); return nil },
		delete:  func(c *rctx, r *record) error { return nil },
	},
	"AWS::IAM::AccessKey": {
		schema:  obj([]string{"UserName"}, map[string]*schema{"UserName": sString, "Serial": sInt, "Status": enum("Active", "Inactive")}),
		replace: []string{"UserName", "Serial"},
		attrs:   []string{"SecretAccessKey"},
		iam:     true,
		create:  createAccessKey,
		update:  func(c *rctx, r *record, p map[string]any) error { return nil },
		delete:  func(c *rctx, r *record) error { return nil },
	},
	"AWS::IAM::Role": {
		schema: obj([]string{"AssumeRolePolicyDocument"}, map[string]*schema{
			"AssumeRolePolicyDocument": sIAMTrustPolicy, "RoleName": pattern(`^[\w+=,.@-]{1,64}$`), "Path": iamPath,
			"Policies": inlinePolicies, "ManagedPolicyArns": arr(sString), "Description": sString,
			"MaxSessionDuration": sInt, "PermissionsBoundary": sString, "Tags": sTags,
		}),
		replace: []string{"RoleName", "Path"},
		attrs:   []string{"Arn", "RoleId"},
		iam:     true,
		iamName: "RoleName",
		create:  createRole,
		update:  func(c *rctx, r *record, p map[string]any) error { return nil },
		delete:  func(c *rctx, r *record) error { return nil },
	},
	"AWS::SecretsManager::Secret": {
		schema: obj(nil, map[string]*schema{
			"Name": pattern(`^[\w/+=.@-]{1,512}$`), "Description": sString, "SecretString": sString,
			"GenerateSecretString": sAny, "KmsKeyId": sString, "Tags": sTags, "ReplicaRegions": sAny,
		}),
		replace: []string{"Name"},
		attrs:   []string{"Id"},
		secret:  []string{"SecretString"},
		create:  createSecret,
		update:  updateSecret,
		delete:  func(c *rctx, r *record) error { return nil },
	},
	"AWS::Transfer::User": {
		schema: obj([]string{"Role", "ServerId", "UserName"}, map[string]*schema{
			"ServerId": pattern(`^s-([0-9a-f]{17})$`), "UserName": pattern(`^[\w][\w@.-]{2,99}$`),
			"Role": pattern(`^arn:.*role/\S+$`), "HomeDirectory": sString, "HomeDirectoryType": enum("PATH", "LOGICAL"),
			"HomeDirectoryMappings": arr(obj([]string{"Entry", "Target"}, map[string]*schema{
				"Entry": sString, "Target": sString, "Type": enum("FILE", "DIRECTORY"),
			})),
			"Policy": sString, "PosixProfile": sAny, "SshPublicKeys": arr(sString), "Tags": sTags,
		}),
		replace: []string{"ServerId", "UserName"},
		attrs:   []string{"Arn", "ServerId", "UserName"},
		create:  createTransferUser,
		update:  func(c *rctx, r *record, p map[string]any) error { return checkSSHKeys(p) },
		delete:  func(c *rctx, r *record) error { return nil },
	},
}

// validateProps checks resolved properties against the type's schema.
func validateProps(logical string, t *rtype, p map[string]any) error {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if t.schema.props[k] == nil {
			return fmt.Errorf("Encountered unsupported property %s", k)
		}
	}
	if msg := t.schema.check("#", p); msg != "" {
		if strings.HasPrefix(msg, "#") {
			return fmt.Errorf("Properties validation failed for resource %s with message: %s", logical, msg)
		}
		return fmt.Errorf("%s", msg)
	}
	return nil
}

// str returns a property as a string; "" when it is absent.
func str(p map[string]any, key string) string {
	v, ok := p[key]
	if !ok {
		return ""
	}
	s, _ := scalar(v)
	return s
}

// generatedName returns a name as CloudFormation generates one:
// <stack>-<logical>-<random>, at most max characters.
func generatedName(c *rctx, max int, lower bool) string {
	suffix := randomString(upperAlnum, 12)
	prefix := c.st.Name + "-" + c.logical
	if lower {
		prefix, suffix = strings.ToLower(prefix), strings.ToLower(suffix)
	}
	if n := max - len(suffix) - 1; len(prefix) > n {
		prefix = prefix[:n]
	}
	return prefix + "-" + suffix
}

// inAccount reports whether a live resource of type typ in the account
// matches pred.
func (s *Sandbox) inAccount(account, typ string, pred func(r *record) bool) bool {
	for st := range s.liveStacks(account) {
		if !st.live(func(r *record) bool { return !(r.Type == typ && pred(r)) }) {
			return true
		}
	}
	return false
}

// S3 buckets.

func bucketNameProblem(n string) string {
	switch {
	case len(n) < 3 || len(n) > 63:
		return "Bucket name should be between 3 and 63 characters long"
	case strings.ToLower(n) != n:
		return "Bucket name should not contain uppercase characters"
	case strings.Contains(n, "_"):
		return "Bucket name should not contain '_'"
	case strings.Trim(n, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "":
		return "Bucket name should not contain invalid characters"
	case !isAlnum(n[0]):
		return "Bucket name should start with a lowercase letter or number"
	case !isAlnum(n[len(n)-1]):
		return "Bucket name should not end with '" + n[len(n)-1:] + "'"
	case strings.Contains(n, ".."):
		return "Bucket name should not contain two adjacent periods"
	case strings.Contains(n, ".-") || strings.Contains(n, "-."):
		return "Bucket name should not contain dashes next to periods"
	case strings.HasPrefix(n, "xn--") || strings.HasPrefix(n, "sthree-") || strings.HasSuffix(n, "-s3alias") || strings.HasSuffix(n, "--ol-s3"):
		return "Bucket name should not use a reserved prefix or suffix"
	}
	if ipLike.MatchString(n) {
		return "Bucket name must not be formatted as an IP address"
	}
	return ""
}

func isAlnum(b byte) bool { return 'a' <= b && b <= 'z' || '0' <= b && b <= '9' }

// bucketTaken reports whether a bucket of this name exists in any account,
// in a stack (cur: the one a step is changing) or outside
// (Options.OutsideBuckets).
func (s *Sandbox) bucketTaken(cur *stack, name string) bool {
	return s.physicalLive(cur, "", "AWS::S3::Bucket", name) || s.outsideBucketTaken(name)
}

func bucketAttrs(c *rctx, name string) map[string]string {
	return map[string]string{
		"Arn":                 "arn:" + core.Partition(c.st.Region) + ":s3:::" + name,
		"DomainName":          name + ".s3.amazonaws.com",
		"RegionalDomainName":  name + ".s3." + c.st.Region + ".amazonaws.com",
		"DualStackDomainName": name + ".s3.dualstack." + c.st.Region + ".amazonaws.com",
		"WebsiteURL":          "http://" + name + ".s3-website-" + c.st.Region + ".amazonaws.com",
	}
}

func createBucket(c *rctx, r *record, p map[string]any) error {
	name := str(p, "BucketName")
	if name == "" {
		name = generatedName(c, 63, true)
	}
	if msg := bucketNameProblem(name); msg != "" {
		return fmt.Errorf("%s", msg)
	}
	if c.s.bucketTaken(c.st, name) {
		return handlerErr("AlreadyExists", name+" already exists (Service: S3, Status Code: 0, Request ID: null)")
	}
	if err := checkBucketProps(p); err != nil {
		return err
	}
	if err := checkLogging(c, name, p); err != nil {
		return err
	}
	r.Physical = name
	r.Attrs = bucketAttrs(c, name)
	return nil
}

func updateBucket(c *rctx, r *record, p map[string]any) error {
	if err := checkBucketProps(p); err != nil {
		return err
	}
	return checkLogging(c, r.Physical, p)
}

// s3InvalidArgument is S3's 400 InvalidArgument answer, as CloudFormation's
// bucket handler reports it.
func s3InvalidArgument(msg string) error {
	return handlerErr("InvalidRequest", msg+" (Service: S3, Status Code: 400, Error Code: InvalidArgument)")
}

// positive reports whether a resolved integer property is at least 1.
func positive(v any) bool {
	n, err := strconv.Atoi(fmt.Sprint(v))
	return err == nil && n >= 1
}

// checkLifecycleRule checks one lifecycle rule as S3's
// PutBucketLifecycleConfiguration does: ExpiredObjectDeleteMarker goes into
// the rule's Expiration element, which holds it or Days or Date, never two
// of them; day counts are positive.
func checkLifecycleRule(m map[string]any) error {
	_, days := m["ExpirationInDays"]
	_, date := m["ExpirationDate"]
	if _, marker := m["ExpiredObjectDeleteMarker"]; marker && (days || date) {
		return s3InvalidArgument("ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy")
	}
	if d, ok := m["ExpirationInDays"]; ok && !positive(d) {
		return s3InvalidArgument("'Days' for Expiration action must be a positive integer")
	}
	if a, ok := m["AbortIncompleteMultipartUpload"].(map[string]any); ok && !positive(a["DaysAfterInitiation"]) {
		return s3InvalidArgument("'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer")
	}
	if n, ok := m["NoncurrentVersionExpiration"].(map[string]any); ok && !positive(n["NoncurrentDays"]) {
		return s3InvalidArgument("'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer")
	}
	if d, ok := m["NoncurrentVersionExpirationInDays"]; ok && !positive(d) {
		return s3InvalidArgument("'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer")
	}
	return nil
}

// checkBucketProps checks what the schema cannot express.
func checkBucketProps(p map[string]any) error {
	if lc, ok := p["LifecycleConfiguration"].(map[string]any); ok {
		rules, _ := lc["Rules"].([]any)
		for _, rule := range rules {
			m, _ := rule.(map[string]any)
			if err := checkLifecycleRule(m); err != nil {
				return err
			}
		}
	}
	if tags, ok := p["Tags"].([]any); ok {
		for _, t := range tags {
			m, _ := t.(map[string]any)
			if k, _ := m["Key"].(string); strings.HasPrefix(k, "aws:") {
				return handlerErr("InvalidRequest", "System tags cannot be added/updated by requester (Service: S3, Status Code: 400, Error Code: InvalidTag)")
			}
		}
	}
	return nil
}

func deleteBucket(c *rctx, r *record) error {
	c.s.raceDelete(c.c, r)
	if b := c.s.store.objects[r.Physical]; b != nil && len(b.Keys) > 0 {
		return bucketNotEmpty()
	}
	if _, ok := c.s.store.objects[r.Physical]; ok {
		delete(c.s.store.objects, r.Physical)
		c.c.objects = append(c.c.objects, r.Physical)
	}
	return nil
}

func createBucketPolicy(c *rctx, r *record, p map[string]any) error {
	bucket := str(p, "Bucket")
	if !c.s.physicalLive(c.st, c.st.Account, "AWS::S3::Bucket", bucket) {
		return handlerErr("NotFound", "The specified bucket does not exist (Service: S3, Status Code: 404, Error Code: NoSuchBucket)")
	}
	r.Physical = bucket
	return nil
}

// IAM.

func userAttrs(c *rctx, name string, p map[string]any) map[string]string {
	path := str(p, "Path")
	if path == "" {
		path = "/"
	}
	return map[string]string{"Arn": "arn:" + core.Partition(c.st.Region) + ":iam::" + c.st.Account + ":user" + path + name}
}

func createUser(c *rctx, r *record, p map[string]any) error {
	name := str(p, "UserName")
	if name == "" {
		name = generatedName(c, 64, false)
	}
	if c.s.physicalLive(c.st, c.st.Account, "AWS::IAM::User", name) {
		return handlerErr("AlreadyExists", fmt.Sprintf("Resource of type 'AWS::IAM::User' with identifier '%s' already exists.", name))
	}
	r.Physical = name
	r.Attrs = userAttrs(c, name, p)
	return nil
}

func createAccessKey(c *rctx, r *record, p map[string]any) error {
	user := str(p, "UserName")
	if !c.s.physicalLive(c.st, c.st.Account, "AWS::IAM::User", user) {
		return handlerErr("NotFound", fmt.Sprintf("The user with name %s cannot be found. (Service: Iam, Status Code: 404, Error Code: NoSuchEntity)", user))
	}
	// IAM allows two access keys per user, and CloudFormation makes a
	// replacement key before it deletes the one it replaces.
	n := 0
	for st := range c.s.liveStacks(c.st.Account) {
		st.live(func(k *record) bool {
			var props struct{ UserName string }
			if k.Type == "AWS::IAM::AccessKey" && json.Unmarshal(k.Resolved, &props) == nil && props.UserName == user {
				n++
			}
			return true
		})
	}
	if n >= maxAccessKeysPerUser {
		return handlerErr("ServiceLimitExceeded", fmt.Sprintf("Cannot exceed quota for AccessKeysPerUser: %d (Service: Iam, Status Code: 409, Error Code: LimitExceeded)", maxAccessKeysPerUser))
	}
	r.Physical = "AKIA" + randomString(keyIDChars, 16)
	r.Sealed = map[string]string{"SecretAccessKey": c.s.seal(randomString(secretChars, 40))}
	return nil
}

// maxAccessKeysPerUser is IAM's quota of access keys per user.
const maxAccessKeysPerUser = 2

func createRole(c *rctx, r *record, p map[string]any) error {
	name := str(p, "RoleName")
	if name == "" {
		name = generatedName(c, 64, false)
	}
	if c.s.physicalLive(c.st, c.st.Account, "AWS::IAM::Role", name) {
		return handlerErr("AlreadyExists", fmt.Sprintf("Resource of type 'AWS::IAM::Role' with identifier '%s' already exists.", name))
	}
	path := str(p, "Path")
	if path == "" {
		path = "/"
	}
	r.Physical = name
	r.Attrs = map[string]string{
		"Arn":    "arn:" + core.Partition(c.st.Region) + ":iam::" + c.st.Account + ":role" + path + name,
		"RoleId": "AROA" + randomString(upperAlnum, 17),
	}
	return nil
}

// Secrets Manager.

func secretName(arn string) string {
	i := strings.Index(arn, ":secret:")
	if i < 0 {
		return ""
	}
	n := arn[i+len(":secret:"):]
	if len(n) > 7 {
		n = n[:len(n)-7] // the -XXXXXX suffix
	}
	return n
}

func secretValue(c *rctx, p map[string]any) (string, error) {
	_, hasString := p["SecretString"]
	_, hasGen := p["GenerateSecretString"]
	if hasString && hasGen {
		return "", fmt.Errorf("You can't specify both SecretString and GenerateSecretString")
	}
	if hasString {
		return str(p, "SecretString"), nil
	}
	return randomString(mixedAlnum, 32), nil
}

func createSecret(c *rctx, r *record, p map[string]any) error {
	name := str(p, "Name")
	if name == "" {
		name = generatedName(c, 512, false)
	}
	if c.s.inAccount(c.st.Account, "AWS::SecretsManager::Secret", func(x *record) bool { return secretName(x.Physical) == name }) {
		return handlerErr("AlreadyExists", fmt.Sprintf("The operation failed because the secret %s already exists. (Service: AWSSecretsManager; Status Code: 400; Error Code: ResourceExistsException)", name))
	}
	v, err := secretValue(c, p)
	if err != nil {
		return err
	}
	arn := "arn:" + core.Partition(c.st.Region) + ":secretsmanager:" + c.st.Region + ":" + c.st.Account + ":secret:" + name + "-" + randomString(mixedAlnum, 6)
	r.Physical = arn
	r.Attrs = map[string]string{"Id": arn}
	r.Sealed = map[string]string{"SecretString": c.s.seal(v)}
	return nil
}

func updateSecret(c *rctx, r *record, p map[string]any) error {
	if _, ok := p["SecretString"]; !ok {
		return nil // GenerateSecretString is not regenerated by an update
	}
	v, err := secretValue(c, p)
	if err != nil {
		return err
	}
	r.Sealed = map[string]string{"SecretString": c.s.seal(v)}
	return nil
}

// Transfer Family.

var sshKeyTypes = []string{"ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"}

func checkSSHKeys(p map[string]any) error {
	keys, _ := p["SshPublicKeys"].([]any)
	for _, k := range keys {
		s, _ := k.(string)
		// Transfer parses the key: the blob must decode to a key of the
		// declared type, one key, no options.
		f := strings.Fields(s)
		ok := len(f) >= 2 && contains(sshKeyTypes, f[0])
		if ok {
			pub, _, options, rest, err := ssh.ParseAuthorizedKey([]byte(s))
			ok = err == nil && len(options) == 0 && len(bytes.TrimSpace(rest)) == 0 && pub.Type() == f[0]
		}
		if !ok {
			return handlerErr("InvalidRequest", "Unsupported or invalid SSH public key format (Service: Transfer, Status Code: 400, Error Code: InvalidRequestException)")
		}
	}
	return nil
}

func createTransferUser(c *rctx, r *record, p map[string]any) error {
	if err := checkSSHKeys(p); err != nil {
		return err
	}
	server, user := str(p, "ServerId"), str(p, "UserName")
	arn := "arn:" + core.Partition(c.st.Region) + ":transfer:" + c.st.Region + ":" + c.st.Account + ":user/" + server + "/" + user
	if c.s.physicalLive(c.st, c.st.Account, "AWS::Transfer::User", arn) {
		return handlerErr("AlreadyExists", "User already exists (Service: Transfer, Status Code: 400, Error Code: ResourceExistsException)")
	}
	r.Physical = arn
	r.Attrs = map[string]string{"Arn": arn, "ServerId": server, "UserName": user}
	return nil
}

// handlerErr is a resource's failure as CloudFormation reports what a
// resource type's handler returned: the service's message quoted, then
// the request token and the handler's error code (AlreadyExists,
// NotFound, InvalidRequest, ServiceLimitExceeded,
// GeneralServiceException, …).
func handlerErr(code, msg string) error {
	return fmt.Errorf(`Resource handler returned message: "%s" (RequestToken: %s, HandlerErrorCode: %s)`, msg, uuid(), code)
}

// ipLike is how AWS's SDKs tell a bucket name formatted as an IP address.
var ipLike = regexp.MustCompile(`^(\d+\.){3}\d+$`)
