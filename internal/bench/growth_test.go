package bench

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"
)

// The chart is well-formed SVG with one polyline per series of two points
// or more, and survives a panel without data.
func TestGrowthSVG(t *testing.T) {
	points := []growthPoint{
		{buckets: 200, p99Gzip: 2 * time.Millisecond, p99Plain: 3 * time.Millisecond, bytesGzip: 150, bytesPlain: 2000},
		{buckets: 1000, p99Gzip: 5 * time.Millisecond, p99Plain: 9 * time.Millisecond, bytesGzip: 149, bytesPlain: 2010},
		{buckets: 5000, p99Gzip: 30 * time.Millisecond, p99Plain: 45 * time.Millisecond, bytesGzip: 148, bytesPlain: 2015},
	}
	passes := []passResult{
		{stacks: 1100, wall: 3 * time.Second, calls: map[string]int{"ListStacks": 11}},
		{stacks: 1100, userOps: 10, wall: 4 * time.Second, calls: map[string]int{"ListStacks": 11, "UpdateStack": 10}},
		{stacks: 10000, userOps: 10, wall: 27 * time.Second, calls: map[string]int{"ListStacks": 100, "UpdateStack": 10}},
	}
	for _, svg := range []string{growthSVG(points, passes), growthSVG(nil, nil)} {
		d := xml.NewDecoder(strings.NewReader(svg))
		lines := 0
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("not well-formed: %v\n%s", err, svg)
			}
			if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
				lines++
			}
		}
		if strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
			t.Fatalf("a coordinate is not a number:\n%s", svg)
		}
		if svg == growthSVG(points, passes) && lines != 6 {
			t.Fatalf("%d lines, want 6 (2 + 2 + 2: one pass without updates draws a point, not a line)", lines)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 10000: "10,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
