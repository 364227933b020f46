package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestHelpAndBadFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"--help"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "Usage: bucketdesk-bench") {
		t.Errorf("--help: exit %d, %q", code, errb.String())
	}
	errb.Reset()
	if code := run(t.Context(), []string{"--rates", "500,fast"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `--rates: "fast"`) {
		t.Errorf("bad --rates: exit %d, %q", code, errb.String())
	}
	errb.Reset()
	if code := run(t.Context(), []string{"--frobnicate"}, &out, &errb); code != 2 {
		t.Errorf("unknown flag: exit %d, %q", code, errb.String())
	}
}
