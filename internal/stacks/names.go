// Package stacks owns how bucketdesk resources become CloudFormation stacks:
// the deterministic stack names and identity tags, the JSON templates of
// bucket and user stacks (docs/templates.md is the contract), and the parser
// that reads such a template back into a spec.
//
// It performs no I/O: the engine renders here and hands the result to a
// core.Cloud.
package stacks

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"bucketdesk/internal/core"
)

// Identity tag keys set on every stack. They carry the exact identity,
// because a stack name may only hold a hashed form of the resource name.
const (
	TagProject = core.ReservedTagPrefix + "project"
	TagKind    = core.ReservedTagPrefix + "kind"
	TagName    = core.ReservedTagPrefix + "name"
)

// MaxStackNameLen is CloudFormation's limit on stack names.
const MaxStackNameLen = 128

// stackPrefix starts every bucketdesk stack name.
const stackPrefix = "bd-"

// Prefix is the listing prefix of a project's stacks: "bd-<project>--".
// Project ids never contain "--", so no project's prefix is a prefix of
// another's.
func Prefix(project string) string { return stackPrefix + project + "--" }

// StackName derives the deterministic stack name for (project, kind, name):
// "bd-<project>--<b|u>-<fragment>". The fragment is the name itself when it
// is plain (letters, digits, single hyphens) and otherwise a sanitised form
// followed by "--" and a hash of the exact name; plain fragments never
// contain "--", so the two forms cannot collide.
//
// kind must be valid; StackName panics otherwise, as that is a programming
// error that would otherwise address the wrong stack.
func StackName(project string, kind core.Kind, name string) string {
	code, ok := kindCodes[kind]
	if !ok {
		panic("stacks: StackName with unknown kind " + string(kind))
	}
	head := Prefix(project) + code + "-"
	return head + fragment(name, MaxStackNameLen-len(head))
}

var kindCodes = map[core.Kind]string{core.KindBucket: "b", core.KindUser: "u"}

// fragment returns name when it can stand in a stack name as is, and the
// sanitised and hashed form otherwise, in at most limit bytes.
func fragment(name string, limit int) string {
	if name != "" && len(name) <= limit && !strings.Contains(name, "--") && isPlain(name) {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	suffix := "--" + hex.EncodeToString(sum[:4])
	var b strings.Builder
	inRun := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		if isPlainByte(c) {
			b.WriteByte(c)
			inRun = false
			continue
		}
		if !inRun {
			b.WriteByte('-')
		}
		inRun = true
	}
	s := b.String()
	if n := limit - len(suffix); len(s) > n {
		s = s[:max(n, 0)]
	}
	return s + suffix
}

func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isPlainByte(s[i]) {
			return false
		}
	}
	return true
}

func isPlainByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

// ProjectOf returns the project id encoded in a stack name, and false when
// the name is not shaped like a bucketdesk stack name.
func ProjectOf(stackName string) (string, bool) {
	project, _, ok := split(stackName)
	return project, ok
}

// KindOf returns the kind encoded in a stack name, and false when the name
// is not shaped like a bucketdesk stack name.
func KindOf(stackName string) (core.Kind, bool) {
	_, kind, ok := split(stackName)
	return kind, ok
}

func split(stackName string) (string, core.Kind, bool) {
	rest, ok := strings.CutPrefix(stackName, stackPrefix)
	if !ok {
		return "", "", false
	}
	project, rest, ok := strings.Cut(rest, "--")
	if !ok || project == "" {
		return "", "", false
	}
	for kind, code := range kindCodes {
		if strings.HasPrefix(rest, code+"-") {
			return project, kind, true
		}
	}
	return "", "", false
}

// Tags returns the identity tags of a stack.
func Tags(project string, kind core.Kind, name string) map[string]string {
	return map[string]string{TagProject: project, TagKind: string(kind), TagName: name}
}

// Identity reads (project, kind, name) back from stack tags; ok is false
// when a tag is missing or the kind is unknown.
func Identity(tags map[string]string) (project string, kind core.Kind, name string, ok bool) {
	project, kind, name = tags[TagProject], core.Kind(tags[TagKind]), tags[TagName]
	if project == "" || name == "" || !kind.Valid() {
		return "", "", "", false
	}
	return project, kind, name, true
}
