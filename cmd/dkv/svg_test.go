package main

import (
	"encoding/binary"
	"encoding/xml"
	"fmt"
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
