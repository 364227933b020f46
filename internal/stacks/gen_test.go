package stacks

import (
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"bucketdesk/internal/core"
)

var transferUserNameRe = regexp.MustCompile(core.TransferUserNamePattern)

// gen draws valid names and specs from a seeded source, so that a failure
// reproduces from the seed in the test log.
type gen struct{ r *rand.Rand }

func newGen(seed uint64) *gen { return &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

func (g *gen) pick(s string) byte { return s[g.r.IntN(len(s))] }

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

const (
	lowerDigits = "abcdefghijklmnopqrstuvwxyz0123456789"
	letters     = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// projectID draws a valid project id, 2 to 32 characters.
func (g *gen) projectID() string {
	for {
		n := 2 + g.r.IntN(31)
		b := make([]byte, n)
		for i := range b {
			b[i] = g.pick(lowerDigits)
			if i > 0 && i < n-1 && b[i-1] != '-' && g.chance(0.15) {
				b[i] = '-'
			}
		}
		p := &core.Project{ID: string(b), Name: "x", AccountID: "123456789012", Region: "eu-west-1"}
		if p.Validate() == nil {
			return p.ID
		}
	}
}

// bucketName draws a valid S3 bucket name; long names, dots and "--" are
// frequent on purpose.
func (g *gen) bucketName() string {
	for {
		n := 3 + g.r.IntN(61)
		if g.chance(0.1) {
			n = 63
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = g.pick(lowerDigits)
			if i > 0 && i < n-1 {
				switch x := g.r.IntN(10); {
				case x == 0:
					b[i] = '.'
				case x <= 2:
					b[i] = '-'
				}
			}
		}
		if len(core.BucketNameProblems(string(b))) == 0 {
			return string(b)
		}
	}
}

// userName draws a valid IAM user name: half plain, half with the other
// characters IAM allows, up to 64 characters.
func (g *gen) userName() string {
	n := 1 + g.r.IntN(64)
	if g.chance(0.1) {
		n = 64
	}
	chars := letters + "-"
	if g.chance(0.5) {
		chars = letters + "+=.@_-"
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = g.pick(chars)
	}
	if len(core.UserNameProblems(string(b))) != 0 {
		panic("gen: invalid user name " + string(b))
	}
	return string(b)
}

var words = []string{"raw", "in", "out", "exports", "2024", "2025", "team-a", "partner", "acme", "logs", "daily", "images", "v1", "reports", "tmp"}

func (g *gen) prefix() string {
	if g.chance(0.3) {
		return ""
	}
	var parts []string
	for range 1 + g.r.IntN(3) {
		parts = append(parts, words[g.r.IntN(len(words))])
	}
	p := strings.Join(parts, "/")
	if g.chance(0.7) {
		p += "/"
	}
	if g.chance(0.1) {
		p += "a b&c<d>é" // characters a policy must carry as they are
	}
	return p
}

func (g *gen) tags() map[string]string {
	n := g.r.IntN(6)
	if g.chance(0.05) {
		n = core.MaxTags
	}
	if n == 0 && g.chance(0.5) {
		return map[string]string{} // empty equals nil
	}
	m := map[string]string{}
	for len(m) < n {
		k := fmt.Sprintf("%s-%d", words[g.r.IntN(len(words))], g.r.IntN(1000))
		if g.chance(0.2) {
			k = "Cost Center:" + k
		}
		m[k] = fmt.Sprintf("v=%d @team/%s", g.r.IntN(100), words[g.r.IntN(len(words))])
	}
	return m
}

// sshKey draws a real ed25519 public key (keys are parsed, not
// pattern-matched).
func (g *gen) sshKey() string {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(g.r.IntN(256))
	}
	pub, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(seed).Public())
	if err != nil {
		panic(err)
	}
	k := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	if g.chance(0.5) {
		k += " user@host"
	}
	if g.chance(0.2) {
		k += "\n" // trimmed by Canonical, as by validation
	}
	return k
}

func (g *gen) bucketSpec() *core.BucketSpec {
	b := &core.BucketSpec{Name: g.bucketName(), Versioning: g.chance(0.5), Encryption: core.Encryption{Type: core.EncryptionS3}, Tags: g.tags()}
	if g.chance(0.5) {
		b.Encryption = core.Encryption{Type: core.EncryptionKMS, KMSKeyARN: "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}
		if g.chance(0.3) {
			b.Encryption.KMSKeyARN = "arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab"
		}
	}
	if g.chance(0.5) {
		b.ExpiryDays = 1 + g.r.IntN(core.MaxExpiryDays)
	}
	// Suspended (was versioned); with versioning on, Canonical drops it.
	b.VersioningSuspended = g.chance(0.3)
	return b
}

// userSpec draws a valid user whose grants policy fits IAM's limit (grants
// are dropped until it does).
func (g *gen) userSpec() *core.UserSpec {
	u := &core.UserSpec{Name: g.userName(), AccessKeys: g.r.IntN(core.MaxAccessKeys + 1)}
	var buckets []string
	for range 1 + g.r.IntN(4) {
		buckets = append(buckets, g.bucketName())
	}
	seen := map[string]bool{}
	accesses := []core.Access{core.AccessRead, core.AccessWrite, core.AccessReadWrite}
	for range g.r.IntN(core.MaxGrants + 1) {
		gr := core.Grant{Bucket: buckets[g.r.IntN(len(buckets))], Access: accesses[g.r.IntN(3)], Prefix: g.prefix()}
		if k := gr.Bucket + "\x00" + core.CanonicalPrefix(gr.Prefix); !seen[k] {
			seen[k] = true
			u.Grants = append(u.Grants, gr)
		}
	}
	if g.chance(0.3) {
		// Any second of a year ahead; a third of them already expired.
		u.AccessUntil = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(g.r.IntN(365*24*3600)) * time.Second)
		u.Expired = g.chance(0.3)
	}
	for len(u.Grants) > 0 && len(encode(grantsPolicy("eu-west-1", Canonical(core.Spec{User: u}).User.Grants, u.AccessUntil), "")) > MaxUserPolicySize {
		u.Grants = u.Grants[1:]
	}
	if len(u.Grants) == 0 && g.chance(0.5) {
		u.Grants = []core.Grant{} // empty equals nil
	}
	for range g.r.IntN(core.MaxAccessKeys + 1) {
		u.KeySerials = append(u.KeySerials, g.r.IntN(5))
	}
	// Transfer Family refuses some IAM names (core.SFTPUserNameMessage).
	if len(u.Grants) > 0 && transferUserNameRe.MatchString(u.Name) && g.chance(0.5) {
		u.SFTP.Enabled = true
		for range 1 + g.r.IntN(3) {
			u.SFTP.SSHKeys = append(u.SFTP.SSHKeys, g.sshKey())
		}
	}
	return u
}

func (g *gen) spec() core.Spec {
	if g.chance(0.4) {
		return core.Spec{Bucket: g.bucketSpec()}
	}
	return core.Spec{User: g.userSpec()}
}

func TestGeneratorIsValid(t *testing.T) {
	g := newGen(1)
	for range 2000 {
		if s := g.spec(); s.Validate() != nil {
			t.Fatalf("generated spec %+v is invalid: %v", s, s.Validate())
		}
	}
}
