package simcloud

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// keyFile returns the path of the file next to the database that holds
// the sandbox's secret key. Secret values are sealed with it, so the
// database file alone reveals none.
func keyFile(dbPath string) string { return dbPath + ".key" }

// loadKey reads the sandbox key, creating it on first use.
func loadKey(path string, fresh bool) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := hex.DecodeString(string(b))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("simcloud: key file %s is malformed", path)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("simcloud: read key: %w", err)
	}
	if !fresh {
		return nil, fmt.Errorf("simcloud: key file %s is missing for an existing sandbox file", path)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(k)), 0o600); err != nil {
		return nil, fmt.Errorf("simcloud: write key: %w", err)
	}
	return k, nil
}

// seal encrypts a secret value with AES-256-GCM.
func (s *Sandbox) seal(plain string) string {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, []byte(plain), nil))
}

// open decrypts what seal returned.
func (s *Sandbox) open(sealed string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(b) < s.aead.NonceSize() {
		return "", errors.New("sealed value is malformed")
	}
	n := s.aead.NonceSize()
	p, err := s.aead.Open(nil, b[:n], b[n:], nil)
	if err != nil {
		return "", errors.New("sealed value does not open")
	}
	return string(p), nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// hash returns a keyed hash of resolved properties (secret ones included),
// so that a change is detected without storing the secret.
func (s *Sandbox) hash(props map[string]any) string {
	b, _ := json.Marshal(props) // map keys are sorted: canonical
	m := hmac.New(sha256.New, s.hashKey)
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil))
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

const (
	upperAlnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	keyIDChars  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	secretChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	lowerAlnum  = "abcdefghijklmnopqrstuvwxyz0123456789"
	mixedAlnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// randomString returns n characters of alphabet from crypto/rand: some of
// them are credentials.
func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// uuid returns a random version 4 UUID.
func uuid() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// tokenBucket is a rate limit on the injected clock (x/time/rate reads
// the wall clock, which a manual clock cannot move).
type tokenBucket struct {
	tokens float64
	last   time.Time
}

// allow takes one token if there is one.
func (b *tokenBucket) allow(now time.Time, l RateLimit) bool {
	if b.last.IsZero() {
		b.tokens = float64(l.Burst)
		b.last = now
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens += el.Seconds() * l.PerSecond
		b.last = now
	}
	if max := float64(max(l.Burst, 1)); b.tokens > max {
		b.tokens = max
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
