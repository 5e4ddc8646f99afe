package main

import (
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/manifest"
)

// A tree of hundreds of tables draws as well-formed SVG whose thin tables
// are merged into hatched runs, so the picture stays legible (and small):
// far fewer boxes than tables, every table accounted for.
func TestSVGAggregatesThinTables(t *testing.T) {
	key := func(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }
	edit := &manifest.VersionEdit{}
	num := base.FileNum(1)
	add := func(level, lo, hi int, size uint64) {
		edit.NewFiles = append(edit.NewFiles, manifest.NewFile{Level: level, Meta: &manifest.FileMetadata{
			FileNum: num, Size: size,
			Smallest: base.MakeInternalKey(key(lo), 1, base.KindSet), Largest: base.MakeInternalKey(key(hi), 1, base.KindSet),
			SmallestSeq: 1, LargestSeq: 1,
		}})
		num++
	}
	for i := range 12 { // overlapping L0 tables: more than there are lanes
		add(0, i*10, 900_000+i, 8<<20)
	}
	for i := range 2000 { // L2: 2000 thin tables
		add(2, i*500, i*500+499, 2<<20)
	}
	for i := range 10 { // L1: ten wide ones
		add(1, i*100_000, i*100_000+99_999, 8<<20)
	}
	v, err := (&manifest.Version{}).Apply(base.DefaultComparer.Compare, edit)
	require.NoError(t, err)

	var b strings.Builder
	require.NoError(t, writeLSMSVG(&b, &globals{}, v, levelMetrics(v)))
	svg := b.String()
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		if _, err := dec.Token(); err != nil {
			require.ErrorContains(t, err, "EOF")
			break
		}
	}
	boxes := strings.Count(svg, "<rect")
	require.Less(t, boxes, 600, "2022 tables, drawn as at most a few hundred boxes")
	require.Contains(t, svg, `fill="url(#thin)"`)
	// Every table is in some box's title: runs say how many they hold.
	tables := 0
	for _, title := range strings.Split(svg, "<title>")[1:] {
		title = title[:strings.Index(title, "</title>")]
		if n, _, ok := strings.Cut(title, " tables "); ok && !strings.Contains(n, ".sst") {
			var k int
			_, err := fmt.Sscan(n, &k)
			require.NoError(t, err)
			tables += k
		} else {
			tables++
		}
	}
	require.Equal(t, 2022, tables)
	require.Contains(t, svg, ">002013 8.0 MiB</text>") // a wide L1 table keeps its own box and label
}

// Tables of the same size are drawn about as wide, whatever their keys:
// over the decimal keys "1" to "999999" (where "10" and "100000" are
// neighbours and "2" far from them), twenty equal tables of L6 and seven
// of L5 whose bounds fall elsewhere. A picture that placed keys by their
// bytes drew such tables from 3 to 196 pixels wide.
func TestSVGWidthMeansSize(t *testing.T) {
	keys := make([]string, 999_999)
	for i := range keys {
		keys[i] = strconv.Itoa(i + 1)
	}
	slices.Sort(keys)
	edit := &manifest.VersionEdit{}
	num := base.FileNum(1)
	level := func(level, tables int, size uint64) {
		per := len(keys) / tables
		for i := range tables {
			lo, hi := keys[i*per], keys[min((i+1)*per, len(keys))-1]
			edit.NewFiles = append(edit.NewFiles, manifest.NewFile{Level: level, Meta: &manifest.FileMetadata{
				FileNum: num, Size: size,
				Smallest: base.MakeInternalKey([]byte(lo), 1, base.KindSet), Largest: base.MakeInternalKey([]byte(hi), 1, base.KindSet),
				SmallestSeq: 1, LargestSeq: 1,
			}})
			num++
		}
	}
	level(6, 20, 64<<20)
	level(5, 7, 24<<20)
	v, err := (&manifest.Version{}).Apply(base.DefaultComparer.Compare, edit)
	require.NoError(t, err)

	var b strings.Builder
	require.NoError(t, writeLSMSVG(&b, &globals{}, v, levelMetrics(v)))
	box := regexp.MustCompile(`<rect x="[0-9.]+" y="[0-9.]+" width="([0-9.]+)" [^>]*><title>(\d+)\.sst `)
	widths := map[int][]float64{} // by level: L5 holds tables 21 to 27
	for _, m := range box.FindAllStringSubmatch(b.String(), -1) {
		w, err := strconv.ParseFloat(m[1], 64)
		require.NoError(t, err)
		n, err := strconv.Atoi(m[2])
		require.NoError(t, err)
		l := 6
		if n > 20 {
			l = 5
		}
		widths[l] = append(widths[l], w)
	}
	for l, n := range map[int]int{6: 20, 5: 7} {
		require.Len(t, widths[l], n, "L%d: a box per table", l)
		lo, hi := slices.Min(widths[l]), slices.Max(widths[l])
		require.Greater(t, lo, float64(svgMinBox), "L%d", l)
		require.Less(t, hi/lo, 1.5, "L%d: widths of equal tables %v", l, widths[l])
	}
}
