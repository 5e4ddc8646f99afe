package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"262144": 262144, "256KiB": 256 << 10, "64MiB": 64 << 20, "1GiB": 1 << 30,
		"64mb": 64 << 20, "10 KiB": 10 << 10, "7B": 7, "2k": 2 << 10,
	} {
		got, err := parseSize(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "MiB", "1.5MiB", "-3", "12XB", "99999999999GiB"} {
		_, err := parseSize(in)
		require.Error(t, err, in)
	}
}

// The range flags are checked before anything is opened: a bad value is a
// usage error.
func TestStartRangeFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--range-max-bytes", "12"},
		{"--range-max-bytes", "lots"},
		{"--range-max-qps", "-5"},
	} {
		f := &startFlags{downAfter: 1, rangeMax: "64MiB", rangeQPS: 2500}
		switch args[0] {
		case "--range-max-bytes":
			f.rangeMax = args[1]
		case "--range-max-qps":
			f.rangeQPS = -5
		}
		_, err := f.config("/nonexistent")
		require.Error(t, err, "%v", args)
		require.Equal(t, exitUsage, exitCode(err), "%v", args)
	}
	f := &startFlags{downAfter: 1, rangeMax: "256KiB", rangeQPS: 0}
	cfg, err := f.config("/nonexistent")
	require.NoError(t, err)
	require.EqualValues(t, 256<<10, cfg.RangeMaxBytes)
	require.Zero(t, cfg.RangeMaxQPS, "0 means never")
}
