package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Hand-written SVG charts: grouped bars, one group per workload and one bar
// per engine, on a log scale.

var engineColors = map[string]string{
	"dkv":       "#1f77b4",
	"pebble":    "#ff7f0e",
	"goleveldb": "#2ca02c",
	"badger":    "#9467bd",
	rocksdbName: "#d62728",
}

// barLayer is one value drawn in a bar; layers are drawn in order, over
// each other, from the same baseline.
type barLayer struct {
	name    string
	opacity float64
	value   func(*Result) float64
}

type chartSpec struct {
	title, unit string
	layers      []barLayer
	tick        func(float64) string
	note        string
}

func opsChart(rep *Report, order []string) string {
	return barChart(rep, order, chartSpec{
		title:  "Throughput by workload (ops/s, log scale; higher is better)",
		unit:   "ops/s",
		layers: []barLayer{{name: "ops/s", opacity: 1, value: func(r *Result) float64 { return r.OpsPerSec }}},
		tick:   decade,
		note:   fmt.Sprintf("%d keys, %d B values, sync=%v, threads=%d", rep.Options.Num, rep.Options.ValueSize, rep.Options.Sync, rep.Options.Threads),
	})
}

func latencyChart(rep *Report, order []string) string {
	return barChart(rep, order, chartSpec{
		title: "Latency percentiles by workload (µs, log scale; lower is better)",
		unit:  "µs",
		layers: []barLayer{
			{name: "p99.9", opacity: 0.25, value: func(r *Result) float64 { return r.P999 }},
			{name: "p99", opacity: 0.55, value: func(r *Result) float64 { return r.P99 }},
			{name: "p50", opacity: 1, value: func(r *Result) float64 { return r.P50 }},
		},
		tick: func(v float64) string {
			switch {
			case v >= 1e6:
				return fmt.Sprintf("%gs", v/1e6)
			case v >= 1e3:
				return fmt.Sprintf("%gms", v/1e3)
			}
			return fmt.Sprintf("%gµs", v)
		},
		note: "bar: p99.9 (light), p99 (medium), p50 (dark); fillbatch: per batch",
	})
}

func barChart(rep *Report, order []string, spec chartSpec) string {
	engs := reportedEngines(rep)
	idx := resultIndex(rep)
	lo, hi := logRange(rep, spec.layers)
	const (
		left, right, top, bottom = 70, 20, 80, 120
		plotH, barW, gap         = 380, 9, 16
	)
	groupW := max(len(engs), 1)*barW + gap
	width := max(left+len(order)*groupW+right, 640)
	height := top + plotH + bottom
	y := func(v float64) float64 {
		return top + plotH - (math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*plotH
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="15" font-weight="bold">%s</text>`+"\n", left, esc(spec.title))
	fmt.Fprintf(&b, `<text x="%d" y="38" fill="#555">%s</text>`+"\n", left, esc(spec.note))
	// Legend.
	lx := left
	for _, e := range engs {
		fmt.Fprintf(&b, `<rect x="%d" y="50" width="12" height="12" fill="%s"/><text x="%d" y="60">%s</text>`+"\n", lx, engineColors[e], lx+16, esc(e))
		lx += 30 + 7*len(e)
	}
	// Grid: one line per decade.
	for v := lo; v <= hi*1.0001; v *= 10 {
		yy := y(v)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, width-right, yy, yy)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="#555">%s</text>`+"\n", left-6, yy+4, esc(spec.tick(v)))
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#333"/>`+"\n", left, width-right, top+plotH, top+plotH)
	for gi, wl := range order {
		gx := left + gi*groupW + gap/2
		for ei, e := range engs {
			r := idx[wl][e]
			if r == nil {
				continue
			}
			x := gx + ei*barW
			for _, l := range spec.layers {
				v := l.value(r)
				if v <= 0 {
					continue
				}
				yy := y(math.Max(v, lo))
				fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="%s" fill-opacity="%.2f"><title>%s %s %s: %s %s</title></rect>`+"\n",
					x, yy, barW-1, float64(top+plotH)-yy, engineColors[e], l.opacity, esc(e), esc(wl), l.name, trimFloat(v), esc(spec.unit))
			}
		}
		cx := gx + len(engs)*barW/2
		fmt.Fprintf(&b, `<text transform="translate(%d,%d) rotate(-45)" text-anchor="end">%s</text>`+"\n", cx, top+plotH+12, esc(wl))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// logRange returns the decades that hold every positive value of layers.
func logRange(rep *Report, layers []barLayer) (lo, hi float64) {
	lo, hi = math.Inf(1), 0
	for i := range rep.Results {
		for _, l := range layers {
			if v := l.value(&rep.Results[i]); v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if hi == 0 {
		return 1, 10
	}
	lo = math.Pow(10, math.Floor(math.Log10(lo)))
	hi = math.Pow(10, math.Ceil(math.Log10(hi)))
	if hi <= lo {
		hi = lo * 10
	}
	return lo, hi
}

// decade labels a power of ten: 1, 10, 100, 1k, … 100M.
func decade(v float64) string {
	for _, u := range []struct {
		div    float64
		suffix string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if v >= u.div {
			return fmt.Sprintf("%g%s", v/u.div, u.suffix)
		}
	}
	return fmt.Sprintf("%g", v)
}

func trimFloat(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

func esc(s string) string { return html.EscapeString(s) }
