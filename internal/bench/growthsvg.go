package bench

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// series is one line of a chart panel.
type series struct {
	name  string
	color string
	xs    []float64
	ys    []float64
}

// panel is one small chart: a logarithmic x axis, a linear y axis from 0.
type panel struct {
	title, xLabel, yLabel string
	lines                 []series
}

// growthSVG draws the growth curves as an SVG of three panels: LIST p99
// and bytes per resource against the buckets listed, and the reconciler's
// pass against the stacks of the project. It uses no library.
func growthSVG(points []growthPoint, passes []passResult) string {
	var xs, p99g, p99p, bg, bp []float64
	for _, p := range points {
		xs = append(xs, float64(p.buckets))
		p99g = append(p99g, float64(p.p99Gzip)/float64(time.Millisecond))
		p99p = append(p99p, float64(p.p99Plain)/float64(time.Millisecond))
		bg = append(bg, p.bytesGzip)
		bp = append(bp, p.bytesPlain)
	}
	var qx, qy, bx, by, cy []float64
	for _, r := range passes {
		if r.userOps == 0 {
			qx, qy = append(qx, float64(r.stacks)), append(qy, r.wall.Seconds())
			continue
		}
		total := 0
		for _, n := range r.calls {
			total += n
		}
		bx, by, cy = append(bx, float64(r.stacks)), append(by, r.wall.Seconds()), append(cy, float64(total)/5)
	}
	panels := []panel{
		{title: "LIST p99", xLabel: "buckets listed", yLabel: "ms", lines: []series{
			{"gzip", "#1f77b4", xs, p99g}, {"identity", "#ff7f0e", xs, p99p}}},
		{title: "LIST bytes per resource", xLabel: "buckets listed", yLabel: "bytes", lines: []series{
			{"gzip", "#1f77b4", xs, bg}, {"identity", "#ff7f0e", xs, bp}}},
		{title: "Reconciler pass", xLabel: "stacks", yLabel: "s", lines: []series{
			{"with updates", "#d62728", bx, by}, {"quiet", "#2ca02c", qx, qy}, {"calls ÷ 5/s", "#7f7f7f", bx, cy}}},
	}
	const w, h = 320, 240
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", w*len(panels), h, w*len(panels), h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	for i, p := range panels {
		drawPanel(&b, p, float64(i*w), w, h)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func drawPanel(b *strings.Builder, p panel, x0 float64, w, h int) {
	left, right, top, bottom := x0+50, x0+float64(w)-15, 30.0, float64(h)-55
	xmin, xmax, ymax := math.Inf(1), math.Inf(-1), 0.0
	for _, s := range p.lines {
		for i, x := range s.xs {
			if i >= len(s.ys) {
				break
			}
			xmin, xmax = math.Min(xmin, x), math.Max(xmax, x)
			ymax = math.Max(ymax, s.ys[i])
		}
	}
	if math.IsInf(xmin, 0) || xmin <= 0 {
		xmin, xmax = 1, 10
	}
	if xmax <= xmin {
		xmax = xmin * 10
	}
	ymax = 4 * niceCeil(ymax/4) // four gridline steps of a round size
	lx0, lx1 := math.Log10(xmin)-0.1, math.Log10(xmax)+0.1
	px := func(x float64) float64 { return left + (math.Log10(x)-lx0)/(lx1-lx0)*(right-left) }
	py := func(y float64) float64 { return bottom - y/ymax*(bottom-top) }
	fmt.Fprintf(b, `<text x="%.0f" y="18" font-size="13" font-weight="bold">%s</text>`+"\n", left, p.title)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", left, bottom, right, bottom)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", left, top, left, bottom)
	for i := 0; i <= 4; i++ {
		y := ymax * float64(i) / 4
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, py(y), right, py(y))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-4, py(y)+4, short(y))
	}
	seen := map[float64]bool{}
	for _, s := range p.lines {
		for _, x := range s.xs {
			if seen[x] {
				continue
			}
			seen[x] = true
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px(x), bottom+14, thousands(int(x)))
		}
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s (log scale)</text>`+"\n", (left+right)/2, bottom+28, p.xLabel)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n", x0+12, (top+bottom)/2, x0+12, (top+bottom)/2, p.yLabel)
	for j, s := range p.lines {
		var pts []string
		for i, x := range s.xs {
			if i >= len(s.ys) {
				break
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(x), py(s.ys[i])))
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px(x), py(s.ys[i]), s.color)
		}
		if len(pts) > 1 {
			fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(pts, " "), s.color)
		}
		lx := left + float64(j)*85
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="10" height="10" fill="%s"/>`+"\n", lx, float64(h)-16, s.color)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+13, float64(h)-7, s.name)
	}
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func short(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1000 && math.Mod(v, 1000) == 0:
		return fmt.Sprintf("%.0fk", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.1fk", v/1000)
	case v >= 10 && math.Mod(v, 1) == 0:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	case v >= 1:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
