package main

import (
	"io"
	"strconv"
	"strings"
	"testing"
)

// A preset sets its flags unless the command line sets them too; without
// one, the defaults are the 1M run's.
func TestPresets(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // options, formatted by summary
	}{
		{nil, "num=1000000 reads=1000000 benchmarks=all engines=dkv,pebble,goleveldb,badger,rocksdb writes_per_sec=0 settle=true out=results"},
		{[]string{"-preset", "1m"}, "num=1000000 reads=1000000 benchmarks=all engines=dkv,pebble,goleveldb,badger,rocksdb writes_per_sec=0 settle=true out=results"},
		{[]string{"-preset", "300k"}, "num=300000 reads=300000 benchmarks=fillbatch,fillrandom,overwrite,readrandom,readseq,seekrandom,readwhilewriting,deleterandom " +
			"engines=dkv,pebble,goleveldb,badger,rocksdb writes_per_sec=20000 settle=true out=results/300k"},
		{[]string{"-preset=10m"}, "num=10000000 reads=1000000 benchmarks=fillrandom,readrandom,readseq,seekrandom,readwhilewriting " +
			"engines=dkv,pebble,goleveldb,rocksdb writes_per_sec=20000 settle=true out=results/10m"},
		// Flags given beside a preset win, before or after it.
		{[]string{"-engines", "dkv", "-preset", "10m", "-num", "20000", "-out", ""}, "num=20000 reads=1000000 benchmarks=fillrandom,readrandom,readseq,seekrandom,readwhilewriting " +
			"engines=dkv writes_per_sec=20000 settle=true out="},
		{[]string{"-preset", "300k", "-settle=false", "-writes_per_sec", "500"}, "num=300000 reads=300000 benchmarks=fillbatch,fillrandom,overwrite,readrandom,readseq,seekrandom,readwhilewriting,deleterandom " +
			"engines=dkv,pebble,goleveldb,badger,rocksdb writes_per_sec=500 settle=false out=results/300k"},
	} {
		o, err := parseOptions(tc.args, io.Discard)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if got := summary(o); got != tc.want {
			t.Errorf("%q:\n got %s\nwant %s", tc.args, got, tc.want)
		}
	}
}

func summary(o *options) string {
	return strings.Join([]string{
		"num=" + itoa(o.Num), "reads=" + itoa(o.Reads), "benchmarks=" + o.Benchmarks, "engines=" + o.Engines,
		"writes_per_sec=" + itoa(o.WritesPerSec), "settle=" + strconv.FormatBool(o.Settle), "out=" + o.Out,
	}, " ")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Every preset names flags that exist and workloads and engines that
// exist, so that make compare cannot break on a typo.
func TestPresetsAreValid(t *testing.T) {
	for _, p := range presets {
		o, err := parseOptions([]string{"-preset", p.name}, io.Discard)
		if err != nil {
			t.Errorf("-preset %s: %v", p.name, err)
			continue
		}
		if _, err := selectWorkloads(o.Benchmarks); err != nil {
			t.Errorf("-preset %s: %v", p.name, err)
		}
		if _, err := parseEngines(o.Engines); err != nil {
			t.Errorf("-preset %s: %v", p.name, err)
		}
		if o.Preset != p.name {
			t.Errorf("-preset %s: recorded as %q", p.name, o.Preset)
		}
	}
}

func TestBadOptions(t *testing.T) {
	for _, args := range [][]string{
		{"-preset", "nosuch"},
		{"-writes_per_sec", "-1"},
		{"-settle_timeout", "0s"},
		{"-settle", "false"}, // a boolean takes -settle=false: "false" is an argument
	} {
		if _, err := parseOptions(args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
