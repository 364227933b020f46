package deploy_test

import (
	"slices"
	"testing"
)

// CloudFront sends the share links' page and its POST to the HTTP API,
// never caching them.
func TestShareLinkBehavior(t *testing.T) {
	src, err := readProcessed("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dist := src["Resources"].(map[string]any)["Distribution"].(map[string]any)
	cfg := dist["Properties"].(map[string]any)["DistributionConfig"].(map[string]any)
	for _, b := range cfg["CacheBehaviors"].([]any) {
		b := b.(map[string]any)
		if b["PathPattern"] != "/s/*" {
			continue
		}
		if b["TargetOriginId"] != "api" || b["CachePolicyId"] != "4135ea2d-6df8-44a3-9df3-4b5a84be39ad" {
			t.Errorf("/s/* behavior %v: want the api origin with caching disabled", b)
		}
		var methods []string
		for _, m := range b["AllowedMethods"].([]any) {
			methods = append(methods, m.(string))
		}
		if !slices.Contains(methods, "POST") {
			t.Errorf("/s/* allows %v, want POST among them (the reveal button)", methods)
		}
		return
	}
	t.Error("no CloudFront behavior for /s/*")
}
