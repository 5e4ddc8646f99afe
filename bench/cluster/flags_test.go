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
		c.perWorker || c.dkv != "" || c.etcd != "" || c.out != "results/cluster" ||
		!slices.Equal(c.systems, []string{"dkv", "etcd"}) || c.order != "fixed" {
		t.Fatalf("defaults: %+v", c)
	}
}

// Lists come back in run order without repeats: workloads in put, get,
// mix order and client counts ascending.
func TestFlagLists(t *testing.T) {
	c, err := parseFlags([]string{"-workloads", "mix, put,mix", "-clients", "64,1, 16,1", "-duration", "1s",
		"-warmup", "0s", "-keys", "2000", "-client_per_worker", "-dkv", "/tmp/dkv", "-etcd", "/tmp/em",
		"-systems", "etcd, dkv", "-order", "alternate"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.workloads, []string{"put", "mix"}) || !slices.Equal(c.clients, []int{1, 16, 64}) ||
		c.duration != time.Second || c.warmup != 0 || c.keys != 2000 || !c.perWorker || c.dkv != "/tmp/dkv" ||
		c.etcd != "/tmp/em" || !slices.Equal(c.systems, []string{"etcd", "dkv"}) || c.order != "alternate" {
		t.Fatalf("parsed: %+v", c)
	}
	if s := settings(c); s.ClientMode != "per-worker" || s.Workloads != "put,mix" || s.Systems != "etcd,dkv" || s.Order != "alternate" || s.Nodes != 3 {
		t.Fatalf("settings: %+v", s)
	}
	if c, err := parseFlags([]string{"-systems", "dkv"}, io.Discard); err != nil || !slices.Equal(c.systems, []string{"dkv"}) {
		t.Fatalf("-systems dkv: %+v, %v", c.systems, err)
	}
}

// Bad values are refused with a message naming the flag; -h is ErrHelp.
func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-workloads", "put,scan"}, `-workloads: unknown workload "scan"`},
		{[]string{"-systems", "dkv,redis"}, `-systems: unknown system "redis"`},
		{[]string{"-systems", "etcd,dkv,etcd"}, `-systems: "etcd" given twice`},
		{[]string{"-systems", ""}, "-systems"},
		{[]string{"-order", "random"}, `-order "random"`},
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

// Each cell runs the systems in -systems order, or with -order alternate
// in reverse order every other cell; the report says which.
func TestCellOrder(t *testing.T) {
	for _, tc := range []struct {
		n, i int
		mode string
		want []int
	}{
		{2, 0, orderFixed, []int{0, 1}}, {2, 1, orderFixed, []int{0, 1}}, {2, 0, orderAlternate, []int{0, 1}},
		{2, 1, orderAlternate, []int{1, 0}}, {2, 2, orderAlternate, []int{0, 1}}, {1, 1, orderAlternate, []int{0}},
	} {
		if got := cellOrder(tc.n, tc.i, tc.mode); !slices.Equal(got, tc.want) {
			t.Errorf("cellOrder(%d, %d, %s) = %v, want %v", tc.n, tc.i, tc.mode, got, tc.want)
		}
	}
	if got := describeOrder([]string{"dkv", "etcd"}, orderFixed); !strings.Contains(got, "each cell on dkv, then on etcd, back to back (-order fixed)") {
		t.Errorf("fixed: %q", got)
	}
	if got := describeOrder([]string{"dkv", "etcd"}, orderAlternate); !strings.Contains(got, "the 1st cell on dkv, then on etcd, the 2nd on etcd, then on dkv") {
		t.Errorf("alternate: %q", got)
	}
	if got := describeOrder([]string{"dkv"}, orderFixed); got != "one system" {
		t.Errorf("one system: %q", got)
	}
}
