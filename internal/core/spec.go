package core

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"
)

// Kind is the kind of a managed resource; each is one CloudFormation stack.
type Kind string

// The kinds of resource bucketdesk manages.
const (
	KindBucket Kind = "bucket"
	KindUser   Kind = "user"
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return k == KindBucket || k == KindUser }

// Project is a project with its dedicated AWS account.
type Project struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	AccountID        string `json:"account_id"`
	Region           string `json:"region"`
	RoleARN          string `json:"role_arn,omitempty"`
	ExternalID       string `json:"external_id,omitempty"`
	TransferServerID string `json:"transfer_server_id,omitempty"`
	// SFTPHost is the host name SFTP users connect to (the Transfer
	// server's endpoint or a custom host name); empty when there is none.
	SFTPHost string `json:"sftp_host,omitempty"`
	// LogBucket names the bucket of the project's account that receives
	// the server access logs of every project bucket (Security Hub S3.9),
	// each under the prefix "<bucket>/": deploy/project-account.yaml
	// creates it in the project's account and region and outputs its name
	// as AccessLogBucket. Empty renders no logging: the project's buckets
	// then fail S3.9 (docs/security-hub.md).
	LogBucket string   `json:"log_bucket,omitempty"`
	Members   []string `json:"members"`
	// Retired: an administrator retired the project. It has no members
	// any more (IsMember is false for everyone), so it disappears from
	// their lists and refuses their reads and writes; the reconciler
	// leaves it alone, and its stacks stay in its account untouched.
	Retired bool `json:"retired,omitempty"`
}

// Account is where a project's stacks live.
func (p *Project) Account() Account {
	return Account{ID: p.AccountID, Region: p.Region, RoleARN: p.RoleARN, ExternalID: p.ExternalID}
}

// GroupPrefix marks a member entry that names a group (for example a
// Cognito group) rather than one user: "group:geo-team".
const GroupPrefix = "group:"

// Principal is who makes a request: a user id and the groups the identity
// provider puts the user in.
type Principal struct {
	User   string   `json:"user"`
	Groups []string `json:"groups,omitempty"`
	// Admin: the user administers the portal (registers projects and
	// their members, reads the portal's audit records). The authenticator
	// sets it from the administrators' group (DefaultAdminGroup unless
	// configured otherwise).
	Admin bool `json:"admin,omitempty"`
}

// DefaultAdminGroup is the group (a Cognito group on AWS, a flag of a
// local login) whose members administer the portal.
const DefaultAdminGroup = "bucketdesk-admins"

// IsMember reports whether who is a member of the project, by user id or
// through one of its groups. A retired project has no members.
func (p *Project) IsMember(who Principal) bool {
	if who.User == "" || p.Retired {
		return false
	}
	for _, m := range p.Members {
		if m == who.User && !strings.HasPrefix(m, GroupPrefix) {
			return true
		}
		if g, ok := strings.CutPrefix(m, GroupPrefix); ok && slices.Contains(who.Groups, g) {
			return true
		}
	}
	return false
}

var (
	projectIDRe = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	accountRe   = regexp.MustCompile(`^[0-9]{12}$`)
	regionRe    = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-[0-9]$`)
)

// Validate checks a project registration.
func (p *Project) Validate() error {
	v := &ValidationError{}
	if n := len(p.ID); n < 2 || n > 32 {
		v.add("id", "must be 2 to 32 characters long, got %d", n)
	}
	if !projectIDRe.MatchString(p.ID) {
		v.add("id", "may contain only lowercase letters, digits and single hyphens between them")
	}
	if strings.TrimSpace(p.Name) == "" {
		v.add("name", "is required")
	}
	if !accountRe.MatchString(p.AccountID) {
		v.add("account_id", "must be a 12-digit AWS account id")
	}
	if !regionRe.MatchString(p.Region) {
		v.add("region", "must be an AWS region such as eu-west-1")
	}
	if p.LogBucket != "" {
		for _, m := range BucketNameProblems(p.LogBucket) {
			v.add("log_bucket", "%s", m)
		}
	}
	return v.err()
}

// Encryption types for buckets.
const (
	EncryptionS3  = "SSE-S3"
	EncryptionKMS = "SSE-KMS"
)

// Encryption is a bucket's default encryption. SSE-S3 needs no key;
// SSE-KMS needs the key's ARN.
type Encryption struct {
	Type      string `json:"type"`
	KMSKeyARN string `json:"kms_key_arn,omitempty"`
}

// BucketSpec is the desired state of a bucket. Public access is always
// blocked and encryption is always on; those are not options.
type BucketSpec struct {
	Name       string `json:"name"`
	Versioning bool   `json:"versioning"`
	// VersioningSuspended is set by bucketdesk, not by the client (what a
	// request sends is ignored): true once a versioned bucket has
	// versioning turned off. S3 cannot return a versioned bucket to
	// unversioned, only suspend its versioning; a bucket that was never
	// versioned is not suspended (in a suspended bucket every delete
	// writes a delete marker). Always false while Versioning is true.
	VersioningSuspended bool              `json:"versioning_suspended,omitempty"`
	Encryption          Encryption        `json:"encryption"`
	ExpiryDays          int               `json:"expiry_days,omitempty"`
	Tags                map[string]string `json:"tags,omitempty"`
}

// NextVersioningSuspended returns VersioningSuspended for a bucket that
// asks for versioning next and was cur before (nil for a new bucket): a
// bucket is suspended when it asks for no versioning and was versioned or
// suspended before.
func NextVersioningSuspended(cur *BucketSpec, versioning bool) bool {
	return !versioning && cur != nil && (cur.Versioning || cur.VersioningSuspended)
}

// Access is what a grant allows.
type Access string

// Grant access levels.
const (
	AccessRead      Access = "read"
	AccessWrite     Access = "write"
	AccessReadWrite Access = "readwrite"
)

// Grant lets a user use one bucket, optionally only below a key prefix.
type Grant struct {
	Bucket string `json:"bucket"`
	Access Access `json:"access"`
	Prefix string `json:"prefix,omitempty"`
	// KMSKeyARN is read-only: bucketdesk sets it to the granted bucket's
	// KMS key when the bucket is SSE-KMS, so that the user may use that
	// key (through S3) for the objects it is granted; what a client sends
	// is replaced.
	KMSKeyARN string `json:"kms_key_arn,omitempty"`
}

// SFTP is a user's AWS Transfer Family access.
type SFTP struct {
	Enabled bool     `json:"enabled"`
	SSHKeys []string `json:"ssh_keys,omitempty"`
}

// UserSpec is the desired state of a managed IAM user.
type UserSpec struct {
	Name   string  `json:"name"`
	Grants []Grant `json:"grants"`
	// AccessKeys is how many access keys the user has, 0 to 2.
	AccessKeys int `json:"access_keys"`
	// KeySerials holds, per access key slot, the serial that CloudFormation
	// uses to replace the key: rotating slot i increments KeySerials[i].
	// Missing entries mean serial 1.
	KeySerials []int `json:"key_serials,omitempty"`
	SFTP       SFTP  `json:"sftp"`
	// AccessUntil, when set, is when the user's access ends (RFC 3339,
	// whole seconds, UTC): every Allow statement of its grants policy holds
	// a DateLessThan aws:CurrentTime condition on it, so IAM refuses the
	// user after it whatever bucketdesk does. AccessUntilProblem says
	// which values a create or an update may set.
	AccessUntil time.Time `json:"access_until,omitzero"`
	// Expired is set by bucketdesk, not by the client (what a request
	// sends is ignored): true once AccessUntil has passed and the user's
	// access keys are Inactive and its SFTP access removed. A manager who
	// sets a later end date (or none) makes it false again.
	Expired bool `json:"expired,omitempty"`
}

// KeySerial returns the serial of access key slot i.
func (u *UserSpec) KeySerial(i int) int {
	if i < len(u.KeySerials) && u.KeySerials[i] > 0 {
		return u.KeySerials[i]
	}
	return 1
}

// Spec is the desired state of one resource: exactly one of Bucket and User.
type Spec struct {
	Bucket *BucketSpec `json:"bucket,omitempty"`
	User   *UserSpec   `json:"user,omitempty"`
}

// Kind returns the kind the spec describes.
func (s Spec) Kind() Kind {
	if s.Bucket != nil {
		return KindBucket
	}
	return KindUser
}

// Name returns the resource name the spec describes.
func (s Spec) Name() string {
	switch {
	case s.Bucket != nil:
		return s.Bucket.Name
	case s.User != nil:
		return s.User.Name
	}
	return ""
}

// Validate checks the spec against the rules of its kind.
func (s Spec) Validate() error {
	switch {
	case s.Bucket != nil && s.User == nil:
		return s.Bucket.Validate()
	case s.User != nil && s.Bucket == nil:
		return s.User.Validate()
	}
	return &ValidationError{Problems: []FieldError{{Field: "spec", Message: "must describe exactly one bucket or one user"}}}
}

// Limits of what a spec may ask for.
const (
	// MaxTags leaves room under S3's 50 tags for the three identity tags
	// that CloudFormation propagates from the stack to the bucket.
	MaxTags        = 47
	MaxGrants      = 10
	MaxSSHKeys     = 10
	MaxExpiryDays  = 36500
	MaxAccessKeys  = 2
	MaxPrefixBytes = 512
)

var (
	bucketCharsRe = regexp.MustCompile(`^[a-z0-9.-]+$`)
	kmsARNRe      = regexp.MustCompile(`^arn:aws(-[a-z]+)*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$`)
	tagCharsRe    = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
	// IAM allows a comma in user names, but the stack's identity tag
	// carries the name and tag values cannot hold one.
	userNameRe         = regexp.MustCompile(`^[A-Za-z0-9+=.@_-]+$`)
	transferUserNameRe = regexp.MustCompile(TransferUserNamePattern)
	sshKeyRe           = regexp.MustCompile(`^(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$`)
)

// TransferUserNamePattern is AWS Transfer Family's pattern for user names
// (CreateUser's UserName; AWS::Transfer::User.UserName): 3 to 100
// characters of [A-Za-z0-9_@.-], not starting with - . or @.
const TransferUserNamePattern = `^[\w][\w@.-]{2,99}$`

// KMSKeyARNMessage is what both the server and the browser say of an
// SSE-KMS bucket's key that is not a key ARN: a bare key id or alias, or
// an alias ARN. S3 would accept an alias, but it resolves the alias at
// every write, so moving the alias would silently switch the key of new
// objects (and the users granted on the bucket would need the new key).
const KMSKeyARNMessage = "must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID); an alias cannot be used because it can be moved to another key at any time, which would silently change the key that encrypts new objects"

// SFTPUserNameMessage says why a user name cannot have SFTP: the Transfer
// Family user has the IAM user's name, and Transfer's names are narrower.
const SFTPUserNameMessage = "SFTP user names must be 3–100 characters of letters, digits, _, @, . and -, not starting with -, . or @"

// SSH key rules.
const (
	// MaxSSHKeyComment bounds the comment after an SSH key.
	MaxSSHKeyComment = 100
	// MinRSABits is the smallest RSA key bucketdesk accepts.
	MinRSABits = 2048
	// sshKeyShapeMessage is what both the server and the browser say of a
	// key that is not shaped like an OpenSSH public key.
	sshKeyShapeMessage = "must be an OpenSSH public key (ssh-rsa, ssh-ed25519 or ecdsa-sha2-nistp256/384/521, then the base64 key)"
)

// SSHKeyTypes are the SSH public key types bucketdesk (and Transfer Family)
// accepts.
var SSHKeyTypes = []string{"ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"}

// SSHKeyProblem returns what is wrong with one SSH public key entry, or ""
// when it is a single OpenSSH public key of an accepted type. Surrounding
// white space is ignored (Canonical trims it). The key is parsed with
// golang.org/x/crypto/ssh, not pattern-matched: its base64 blob must decode
// to a key of its declared type, RSA keys need at least 2048 bits, and an
// entry holds exactly one key without options and with a comment of at
// most MaxSSHKeyComment characters. web/validate.js mirrors the checks up
// to the declared type inside the blob; the rest is the server's alone.
func SSHKeyProblem(key string) string {
	k := strings.TrimSpace(key)
	if strings.ContainsAny(k, "\r\n") {
		return "must be exactly one key on one line"
	}
	if strings.ContainsFunc(k, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "must not contain control characters"
	}
	f := strings.Fields(k)
	if len(f) > 1 && !slices.Contains(SSHKeyTypes, f[0]) && slices.ContainsFunc(f[1:], func(s string) bool { return slices.Contains(SSHKeyTypes, s) }) {
		return "must not start with options (such as from=… or command=…); give only the key type, the base64 key and an optional comment"
	}
	if !sshKeyRe.MatchString(k) {
		return sshKeyShapeMessage
	}
	typ, rest, _ := strings.Cut(k, " ")
	b64, comment, _ := strings.Cut(rest, " ")
	if n := utf8.RuneCountInString(comment); n > MaxSSHKeyComment {
		return fmt.Sprintf("the comment after the key must be at most %d characters, got %d", MaxSSHKeyComment, n)
	}
	blob, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return "the key is not valid base64"
	}
	if len(blob) < 4 || uint64(len(blob)-4) < uint64(binary.BigEndian.Uint32(blob)) || string(blob[4:4+binary.BigEndian.Uint32(blob)]) != typ {
		return fmt.Sprintf("the base64 key is not a %s key", typ)
	}
	pub, _, options, restLines, err := ssh.ParseAuthorizedKey([]byte(k))
	switch {
	case err != nil:
		return fmt.Sprintf("the base64 key is not a valid %s key", typ)
	case len(options) > 0 || len(restLines) > 0 || pub.Type() != typ:
		return sshKeyShapeMessage
	}
	if c, ok := pub.(ssh.CryptoPublicKey); ok {
		if r, ok := c.CryptoPublicKey().(*rsa.PublicKey); ok && r.N.BitLen() < MinRSABits {
			return fmt.Sprintf("RSA keys must have at least %d bits, this one has %d", MinRSABits, r.N.BitLen())
		}
	}
	return ""
}

// CanonicalPrefix returns a grant prefix in its canonical form: a prefix
// names a folder, so a non-empty prefix ends in "/" ("reports" is the
// folder "reports/", not every key starting with "reports").
func CanonicalPrefix(p string) string {
	if p != "" && !strings.HasSuffix(p, "/") {
		return p + "/"
	}
	return p
}

// policyCharOK reports whether IAM allows r in a policy document: tab,
// line feed, carriage return and U+0020 to U+00FF.
func policyCharOK(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xff
}

// ReservedTagPrefix starts the tag keys bucketdesk sets itself.
const ReservedTagPrefix = "bucketdesk:"

// BucketNameProblems lists every S3 general purpose bucket naming rule name
// breaks, in the words of the S3 documentation.
func BucketNameProblems(name string) []string {
	var p []string
	if n := len(name); n < 3 || n > 63 {
		p = append(p, fmt.Sprintf("must be between 3 and 63 characters long, got %d", n))
	}
	if name != "" && !bucketCharsRe.MatchString(name) {
		p = append(p, "may contain only lowercase letters, digits, dots (.) and hyphens (-)")
	}
	if name != "" && (!isLowerAlnum(name[0]) || !isLowerAlnum(name[len(name)-1])) {
		p = append(p, "must begin and end with a lowercase letter or a digit")
	}
	if strings.Contains(name, "..") {
		p = append(p, "must not contain two adjacent dots")
	}
	if strings.Contains(name, ".-") || strings.Contains(name, "-.") {
		p = append(p, "must not have a dot next to a hyphen")
	}
	if ipLike(name) {
		p = append(p, "must not be formatted as an IP address")
	}
	for _, pre := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, pre) {
			p = append(p, fmt.Sprintf("must not start with the reserved prefix %q", pre))
		}
	}
	for _, suf := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, suf) {
			p = append(p, fmt.Sprintf("must not end with the reserved suffix %q", suf))
		}
	}
	return p
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// UserNameProblems lists every IAM user naming rule name breaks.
func UserNameProblems(name string) []string {
	var p []string
	if n := len(name); n < 1 || n > 64 {
		p = append(p, fmt.Sprintf("must be between 1 and 64 characters long, got %d", n))
	}
	if name != "" && !userNameRe.MatchString(name) {
		p = append(p, "may contain only letters, digits and the characters + = . @ _ - (IAM also allows a comma, which bucketdesk cannot tag a stack with)")
	}
	return p
}

// Validate checks a bucket spec.
func (b *BucketSpec) Validate() error {
	v := &ValidationError{}
	for _, m := range BucketNameProblems(b.Name) {
		v.add("name", "%s", m)
	}
	switch b.Encryption.Type {
	case EncryptionS3:
		if b.Encryption.KMSKeyARN != "" {
			v.add("encryption.kms_key_arn", "must be empty with SSE-S3")
		}
	case EncryptionKMS:
		if !kmsARNRe.MatchString(b.Encryption.KMSKeyARN) {
			v.add("encryption.kms_key_arn", "%s", KMSKeyARNMessage)
		}
	default:
		v.add("encryption.type", "must be %q or %q, got %q", EncryptionS3, EncryptionKMS, b.Encryption.Type)
	}
	if b.ExpiryDays < 0 || b.ExpiryDays > MaxExpiryDays {
		v.add("expiry_days", "must be between 1 and %d days, or 0 for no expiry", MaxExpiryDays)
	}
	validateTags(v, b.Tags)
	return v.err()
}

func validateTags(v *ValidationError, tags map[string]string) {
	if len(tags) > MaxTags {
		v.add("tags", "at most %d tags, got %d", MaxTags, len(tags))
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := "tags." + k
		switch {
		case k == "" || len(k) > 128:
			v.add(f, "key must be 1 to 128 characters long")
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			v.add(f, "key must not start with aws:, which AWS reserves")
		case strings.HasPrefix(k, ReservedTagPrefix):
			v.add(f, "key must not start with %s, which bucketdesk reserves", ReservedTagPrefix)
		case !tagCharsRe.MatchString(k):
			v.add(f, "key may contain only letters, digits, spaces and _ . : / = + - @")
		}
		if val := tags[k]; len(val) > 256 || !tagCharsRe.MatchString(val) {
			v.add(f, "value must be at most 256 characters of letters, digits, spaces and _ . : / = + - @")
		}
	}
}

// Validate checks a user spec. Whether the granted buckets exist is the
// engine's check, not this one.
func (u *UserSpec) Validate() error {
	v := &ValidationError{}
	names := UserNameProblems(u.Name)
	for _, m := range names {
		v.add("name", "%s", m)
	}
	// The Transfer Family user has the IAM user's name, and Transfer's
	// names are narrower than IAM's (no + = and at least 3 characters).
	if u.SFTP.Enabled && len(names) == 0 && !transferUserNameRe.MatchString(u.Name) {
		v.add("name", "%s", SFTPUserNameMessage)
	}
	if len(u.Grants) > MaxGrants {
		v.add("grants", "at most %d grants, got %d", MaxGrants, len(u.Grants))
	}
	seen := map[string]int{}
	for i, g := range u.Grants {
		f := fmt.Sprintf("grants[%d]", i)
		for _, m := range BucketNameProblems(g.Bucket) {
			v.add(f+".bucket", "%s", m)
		}
		switch g.Access {
		case AccessRead, AccessWrite, AccessReadWrite:
		default:
			v.add(f+".access", "must be read, write or readwrite, got %q", g.Access)
		}
		switch {
		case len(CanonicalPrefix(g.Prefix)) > MaxPrefixBytes:
			// Counted in canonical form, so that the stored spec validates.
			v.add(f+".prefix", "must be at most %d bytes, counting the / that ends the folder", MaxPrefixBytes)
		case strings.HasPrefix(g.Prefix, "/"):
			v.add(f+".prefix", "must not start with /; S3 keys have no leading slash")
		case strings.ContainsAny(g.Prefix, "*?$\\\"{}\x00\r\n"):
			v.add(f+".prefix", "must not contain * ? $ \\ \" { } or control characters, which would widen or break the policy")
		case strings.ContainsFunc(g.Prefix, func(r rune) bool { return !policyCharOK(r) }):
			i := strings.IndexFunc(g.Prefix, func(r rune) bool { return !policyCharOK(r) })
			r, _ := utf8.DecodeRuneInString(g.Prefix[i:])
			v.add(f+".prefix", "may contain only characters an IAM policy allows (ASCII and Latin-1, U+0020 to U+00FF); %q (U+%04X) is outside that range", string(r), r)
		case strings.Contains(g.Prefix, "//") || strings.Contains(g.Prefix, "../") || g.Prefix == ".." || strings.HasSuffix(g.Prefix, "/.."):
			v.add(f+".prefix", "must not contain empty or .. path segments")
		}
		// "reports" and "reports/" are the same folder.
		k := g.Bucket + "\x00" + CanonicalPrefix(g.Prefix)
		if j, dup := seen[k]; dup {
			v.add(f, "repeats grants[%d] for the same bucket and folder", j)
		}
		seen[k] = i
	}
	if u.AccessKeys < 0 || u.AccessKeys > MaxAccessKeys {
		v.add("access_keys", "must be 0, 1 or 2, got %d", u.AccessKeys)
	}
	if len(u.KeySerials) > MaxAccessKeys {
		v.add("key_serials", "at most %d entries", MaxAccessKeys)
	}
	for i, s := range u.KeySerials {
		if s < 0 {
			v.add(fmt.Sprintf("key_serials[%d]", i), "must not be negative")
		}
	}
	if u.SFTP.Enabled {
		if len(u.SFTP.SSHKeys) == 0 {
			v.add("sftp.ssh_keys", "at least one SSH public key is needed when SFTP is on")
		}
		if len(u.Grants) == 0 {
			v.add("sftp", "SFTP needs at least one grant to map a home folder onto")
		}
	} else if len(u.SFTP.SSHKeys) > 0 {
		v.add("sftp.ssh_keys", "must be empty when SFTP is off")
	}
	if len(u.SFTP.SSHKeys) > MaxSSHKeys {
		v.add("sftp.ssh_keys", "at most %d keys, got %d", MaxSSHKeys, len(u.SFTP.SSHKeys))
	}
	for i, k := range u.SFTP.SSHKeys {
		if m := SSHKeyProblem(k); m != "" {
			v.add(fmt.Sprintf("sftp.ssh_keys[%d]", i), "%s", m)
		}
	}
	return v.err()
}

// ipLike reports whether a bucket name is formatted as an IP address: four
// dot-separated runs of digits, whatever their values (AWS's SDKs refuse
// (\d+\.){3}\d+, so 999.999.999.999 and 01.02.03.04 too).
func ipLike(name string) bool {
	parts := strings.Split(name, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// MarshalJSON writes a user's grants as [] when there are none, never
// null: a spec read from the API or a real-time message can be sent back
// unchanged, and requests refuse null.
func (u UserSpec) MarshalJSON() ([]byte, error) {
	type plain UserSpec // without this method
	p := plain(u)
	if p.Grants == nil {
		p.Grants = []Grant{}
	}
	return json.Marshal(p)
}
