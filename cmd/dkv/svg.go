package main

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/manifest"
)

// The picture lsm --svg draws: one row per level, L0 at the top; in each
// row a box per table, placed along the key space by its key range and as
// tall as its size allows (the largest table of the tree fills the row);
// on the left the level's name, tables and size; on the right a gauge of
// its size against its target. L0's tables overlap, so each gets a lane
// of its own, newest at the top. Tables too thin to see or label are drawn
// together, a run of neighbours as one hatched box saying how many they
// are.

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

// keySpace maps user keys to [0, 1] along the axis: by the first 8 bytes
// after the prefix that every key of the tree shares, read as a number, so
// that numeric keys (db_bench's, counters, timestamps) are placed in
// proportion and others in the order and rough spacing of their bytes.
type keySpace struct {
	prefix int
	lo, hi float64
}

func newKeySpace(v *manifest.Version) keySpace {
	lo, hi := treeBounds(v)
	ks := keySpace{}
	for ks.prefix < min(len(lo), len(hi)) && lo[ks.prefix] == hi[ks.prefix] {
		ks.prefix++
	}
	ks.lo, ks.hi = ks.num(lo), ks.num(hi)
	return ks
}

func (ks keySpace) num(k []byte) float64 {
	var b [8]byte
	if len(k) > ks.prefix {
		copy(b[:], k[ks.prefix:])
	}
	return float64(binary.BigEndian.Uint64(b[:]))
}

// x returns the axis position of k, in pixels.
func (ks keySpace) x(k []byte) float64 {
	f := 0.5
	if ks.hi > ks.lo {
		f = (ks.num(k) - ks.lo) / (ks.hi - ks.lo)
	}
	return svgKeysX + svgKeysW*min(max(f, 0), 1)
}

// box is a table, or a run of thin tables, to draw.
type box struct {
	x0, x1 float64
	files  []*manifest.FileMetadata
	size   uint64
}

// boxes lays out one lane's tables (in key order): a table at least
// svgMinBox wide is its own box; neighbours narrower than that are merged.
func boxes(ks keySpace, files []*manifest.FileMetadata) []box {
	var out []box
	for _, f := range files {
		x0, x1 := ks.x(f.Smallest.UserKey), ks.x(f.Largest.UserKey)
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
	ks := newKeySpace(v)
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
			for _, bx := range boxes(ks, lane) {
				writeBox(&b, bx, top, laneH, biggest)
			}
		}
	}
	fmt.Fprintf(&b, `<text x="10" y="%d" fill="#555">Boxes: tables, placed by key range, as tall as their size (the largest fills its lane). Hatched: tables too thin to draw apart. L0: a lane per table, newest on top.</text>`+"\n", height-14)
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
