package main

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// The defaults are the full measurement the README documents.
func TestFlagDefaults(t *testing.T) {
	c, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.keys != 100000 || c.valueSize != 100 || c.duration != 10*time.Second || c.warmup != 2*time.Second ||
		!slices.Equal(c.workloads, []string{"put", "get", "mix"}) || !slices.Equal(c.clients, []int{1, 16, 64}) ||
		c.perWorker || c.dkv != "" || c.out != "results/cluster" {
		t.Fatalf("defaults: %+v", c)
	}
}

// Lists come back in run order without repeats: workloads in put, get,
// mix order and client counts ascending.
func TestFlagLists(t *testing.T) {
	c, err := parseFlags([]string{"-workloads", "mix, put,mix", "-clients", "64,1, 16,1", "-duration", "1s",
		"-warmup", "0s", "-keys", "2000", "-client_per_worker", "-dkv", "/tmp/dkv"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.workloads, []string{"put", "mix"}) || !slices.Equal(c.clients, []int{1, 16, 64}) ||
		c.duration != time.Second || c.warmup != 0 || c.keys != 2000 || !c.perWorker || c.dkv != "/tmp/dkv" {
		t.Fatalf("parsed: %+v", c)
	}
	if s := settings(c); s.ClientMode != "per-worker" || s.Workloads != "put,mix" {
		t.Fatalf("settings: %+v", s)
	}
}

// Bad values are refused with a message naming the flag; -h is ErrHelp.
func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-workloads", "put,scan"}, `-workloads: unknown workload "scan"`},
		{[]string{"-workloads", ""}, "-workloads"},
		{[]string{"-clients", "1,0"}, `-clients: "0"`},
		{[]string{"-clients", "two"}, `-clients: "two"`},
		{[]string{"-keys", "0"}, "-keys 0"},
		{[]string{"-duration", "0s"}, "-duration 0s"},
		{[]string{"-warmup", "-1s"}, "-warmup -1s"},
		{[]string{"-load_clients", "0"}, "-load_clients 0"},
		{[]string{"-timeout", "0s"}, "-timeout 0s"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
	var usage strings.Builder
	if _, err := parseFlags([]string{"-h"}, &usage); !errors.Is(err, flag.ErrHelp) || !strings.Contains(usage.String(), "-client_per_worker") {
		t.Errorf("-h: %v, usage %q", err, usage.String())
	}
}
