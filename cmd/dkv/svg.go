package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/manifest"
)

// The picture lsm --svg draws: one row per level, L0 at the top; in each
// row a box per table, placed along the key axis by its key range and as
// tall as its size allows (the largest table of the tree fills the row);
// on the left the level's name, tables and size; on the right a gauge of
// its size against its target. L0's tables overlap, so each gets a lane
// of its own, newest at the top. Tables too thin to see or label are drawn
// together, a run of neighbours as one hatched box saying how many they
// are.
//
// The key axis is not linear in the keys' bytes, which says little of how
// much data lies between two keys ("10" and "100000" are neighbours, "2"
// far away): it is stretched so that a key range is as wide as the bytes
// the tree holds in it (see keyAxis).

const (
	svgKeysX     = 170  // where the key axis starts
	svgKeysW     = 900  // its width
	svgGaugeX    = 1090 // the target gauge
	svgGaugeW    = 140
	svgWidth     = 1250
	svgRowH      = 56
	svgTop       = 48
	svgMinBox    = 3  // a table narrower than this joins a run of thin ones
	svgLabelW    = 70 // a box this wide gets a label
	svgMaxLanes  = 8  // L0 lanes; more tables share the last one
	svgRowMargin = 6
)

// keyAxis places keys along the axis by bytes: the distinct boundary keys
// of the tree's tables (smallest and largest, every level), sorted, cut
// the key space into intervals, each as wide as the bytes of the tables
// that cover it, a table's bytes spread evenly over the intervals it
// covers. So a level of tables that do not overlap draws each as wide as
// its size (in proportion to the whole tree's bytes in its range), and a
// range no table covers takes no room, whatever the keys look like.
type keyAxis struct {
	keys [][]byte  // the boundary keys, sorted, distinct
	x    []float64 // x[i] is the position of keys[i], in pixels
}

func newKeyAxis(v *manifest.Version) keyAxis {
	cmp := base.DefaultComparer.Compare
	var a keyAxis
	for _, f := range v.Files() {
		a.keys = append(a.keys, f.Smallest.UserKey, f.Largest.UserKey)
	}
	slices.SortFunc(a.keys, cmp)
	a.keys = slices.CompactFunc(a.keys, func(x, y []byte) bool { return cmp(x, y) == 0 })
	width := make([]float64, max(len(a.keys)-1, 0)) // of the interval after keys[i]
	var total float64
	for _, f := range v.Files() {
		lo, hi := a.index(f.Smallest.UserKey), a.index(f.Largest.UserKey)
		if lo == hi {
			continue // a table of one key covers no interval
		}
		share := float64(max(f.Size, 1)) / float64(hi-lo)
		for i := lo; i < hi; i++ {
			width[i] += share
			total += share
		}
	}
	a.x = make([]float64, len(a.keys))
	for i := range a.keys {
		switch {
		case len(a.keys) == 1:
			a.x[i] = svgKeysX + svgKeysW/2
		case total == 0: // every table holds one key: by rank
			a.x[i] = svgKeysX + svgKeysW*float64(i)/float64(len(a.keys)-1)
		case i == 0:
			a.x[i] = svgKeysX
		default:
			a.x[i] = a.x[i-1] + svgKeysW*width[i-1]/total
		}
	}
	return a
}

// index returns the place of a boundary key in a.keys.
func (a keyAxis) index(k []byte) int {
	i, _ := slices.BinarySearchFunc(a.keys, k, base.DefaultComparer.Compare)
	return i
}

// pos returns the axis position of a boundary key, in pixels.
func (a keyAxis) pos(k []byte) float64 { return a.x[a.index(k)] }

// box is a table, or a run of thin tables, to draw.
type box struct {
	x0, x1 float64
	files  []*manifest.FileMetadata
	size   uint64
}

// boxes lays out one lane's tables (in key order): a table at least
// svgMinBox wide is its own box; neighbours narrower than that are merged.
func boxes(a keyAxis, files []*manifest.FileMetadata) []box {
	var out []box
	for _, f := range files {
		x0, x1 := a.pos(f.Smallest.UserKey), a.pos(f.Largest.UserKey)
		thin := x1-x0 < svgMinBox
		if n := len(out); thin && n > 0 && len(out[n-1].files) > 0 && out[n-1].x1-out[n-1].x0 < svgMinBox*4 && x0-out[n-1].x1 < svgMinBox {
			last := &out[n-1]
			last.x1 = max(last.x1, x1)
			last.files = append(last.files, f)
			last.size += f.Size
			continue
		}
		out = append(out, box{x0: x0, x1: x1, files: []*manifest.FileMetadata{f}, size: f.Size})
	}
	for i := range out {
		if out[i].x1-out[i].x0 < svgMinBox {
			out[i].x1 = out[i].x0 + svgMinBox
		}
	}
	return out
}

// writeLSMSVG draws v.
func writeLSMSVG(w io.Writer, g *globals, v *manifest.Version, levels [dkv.NumLevels]dkv.LevelMetrics) error {
	axis := newKeyAxis(v)
	var biggest uint64
	for _, files := range v.Levels {
		for _, f := range files {
			biggest = max(biggest, f.Size)
		}
	}
	height := svgTop + dkv.NumLevels*svgRowH + 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", svgWidth, height)
	b.WriteString(`<defs><pattern id="thin" width="4" height="4" patternUnits="userSpaceOnUse"><path d="M0,4 l4,-4" stroke="#7a5" stroke-width="1"/></pattern></defs>` + "\n")
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgWidth, height)
	files, size := totalOf(levels)
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14" font-weight="bold">LSM tree: %d tables, %s</text>`+"\n", files, esc(humanSize(size)))
	lo, hi := treeBounds(v)
	if lo != nil {
		fmt.Fprintf(&b, `<text x="%d" y="40" fill="#555">smallest key %s</text>`+"\n", svgKeysX, esc(g.cut(lo, 30)))
		fmt.Fprintf(&b, `<text x="%d" y="40" fill="#555" text-anchor="end">largest key %s</text>`+"\n", svgKeysX+svgKeysW, esc(g.cut(hi, 30)))
	}
	fmt.Fprintf(&b, `<text x="%d" y="40" fill="#555">size / target</text>`+"\n", svgGaugeX)
	for level, files := range v.Levels {
		y := float64(svgTop + level*svgRowH)
		fill := "#f4f6f8"
		if level%2 == 1 {
			fill = "#ffffff"
		}
		fmt.Fprintf(&b, `<rect x="0" y="%.0f" width="%d" height="%d" fill="%s"/>`+"\n", y, svgWidth, svgRowH, fill)
		l := levels[level]
		fmt.Fprintf(&b, `<text x="10" y="%.0f" font-weight="bold">L%d</text>`, y+20, level)
		fmt.Fprintf(&b, `<text x="40" y="%.0f">%d tables</text>`, y+20, l.Files)
		fmt.Fprintf(&b, `<text x="40" y="%.0f">%s</text>`+"\n", y+36, esc(humanSize(l.Size)))
		writeGauge(&b, level, l, y)
		lanes := [][]*manifest.FileMetadata{files}
		if level == 0 && len(files) > 1 {
			lanes = make([][]*manifest.FileMetadata, min(len(files), svgMaxLanes))
			for i, f := range files { // newest first, one lane each
				lane := min(i, svgMaxLanes-1)
				lanes[lane] = append(lanes[lane], f)
			}
			for _, lane := range lanes { // the oldest may share the last lane
				slices.SortFunc(lane, func(a, b *manifest.FileMetadata) int {
					return bytes.Compare(a.Smallest.UserKey, b.Smallest.UserKey)
				})
			}
		}
		laneH := float64(svgRowH-2*svgRowMargin) / float64(len(lanes))
		for i, lane := range lanes {
			top := y + svgRowMargin + float64(i)*laneH
			for _, bx := range boxes(axis, lane) {
				writeBox(&b, bx, top, laneH, biggest)
			}
		}
	}
	fmt.Fprintf(&b, `<text x="10" y="%d" fill="#555">Boxes: tables, placed by key range on an axis where a range is as wide as the bytes it holds; as tall as their size (the largest fills its lane). Hatched: tables too thin to draw apart. L0: a lane per table, newest on top.</text>`+"\n", height-14)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func writeBox(b *strings.Builder, bx box, top, laneH float64, biggest uint64) {
	h := laneH - 2
	if biggest > 0 {
		h = max(h*float64(bx.size)/float64(biggest), min(4, h))
	}
	if len(bx.files) > 1 { // a run of thin tables: as tall as the lane
		h = laneH - 2
	}
	y := top + (laneH-2-h)/2 + 1
	title := fmt.Sprintf("%s.sst %s", bx.files[0].FileNum, humanSize(bx.size))
	fill, label := "#8fb8de", fmt.Sprintf("%s %s", bx.files[0].FileNum, humanSize(bx.size))
	if len(bx.files) > 1 {
		title = fmt.Sprintf("%d tables %s-%s, %s", len(bx.files), bx.files[0].FileNum, bx.files[len(bx.files)-1].FileNum, humanSize(bx.size))
		fill, label = "url(#thin)", fmt.Sprintf("%d tables", len(bx.files))
	}
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" stroke="#356" stroke-width="0.5"><title>%s</title></rect>`,
		bx.x0, y, bx.x1-bx.x0, h, fill, esc(title))
	if bx.x1-bx.x0 >= svgLabelW && laneH >= 12 {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="10">%s</text>`, bx.x0+3, top+laneH/2+4, esc(label))
	}
	b.WriteString("\n")
}

// writeGauge draws a level's size against its target (L0: its table count
// against the compaction threshold; L6: nothing).
func writeGauge(b *strings.Builder, level int, l dkv.LevelMetrics, y float64) {
	if level == dkv.NumLevels-1 {
		return
	}
	frac := min(l.Score, 1)
	color := "#6a6"
	if l.Score >= 1 {
		color = "#d66"
	}
	text := fmt.Sprintf("score %.2f", l.Score)
	if l.Target > 0 {
		text = fmt.Sprintf("%s / %s", humanSize(l.Size), humanSize(l.Target))
	}
	fmt.Fprintf(b, `<rect x="%d" y="%.0f" width="%d" height="12" fill="none" stroke="#999"/>`, svgGaugeX, y+10, svgGaugeW)
	fmt.Fprintf(b, `<rect x="%d" y="%.0f" width="%.1f" height="12" fill="%s"/>`, svgGaugeX, y+10, svgGaugeW*frac, color)
	fmt.Fprintf(b, `<text x="%d" y="%.0f">%s</text>`+"\n", svgGaugeX, y+38, esc(text))
}

// treeBounds returns the smallest and largest user keys of the tree's
// tables (nil when it has none).
func treeBounds(v *manifest.Version) (lo, hi []byte) {
	for _, files := range v.Levels {
		l, h := levelBounds(files)
		if l == nil {
			continue
		}
		if lo == nil || bytes.Compare(l, lo) < 0 {
			lo = l
		}
		if hi == nil || bytes.Compare(h, hi) > 0 {
			hi = h
		}
	}
	return lo, hi
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
