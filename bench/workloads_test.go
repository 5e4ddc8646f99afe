package main

import (
	"fmt"
	"testing"
)

// A workload that reads runs after the fill of its group, which is not
// reported unless selected; aliases select several rows.
func TestGroupPlans(t *testing.T) {
	for _, tc := range []struct {
		sel  string
		want string
	}{
		{"readrandom", "random: fillrandom(setup) readrandom"},
		{"fillrandom,readseq", "random: fillrandom readseq"},
		{"ycsb-c", "ycsb: ycsb-load(setup) ycsb-c"},
		{"fillsync", "fillsync: fillsync/1 fillsync/16"},
		{"fillseq,ycsb-load", "fillseq: fillseq; ycsb: ycsb-load"},
	} {
		sel, err := selectWorkloads(tc.sel)
		if err != nil {
			t.Fatal(err)
		}
		groups, plans := groupPlans(sel)
		got := ""
		for i, g := range groups {
			if i > 0 {
				got += "; "
			}
			got += g + ":"
			for _, st := range plans[g] {
				got += " " + st.w.name
				if !st.report {
					got += "(setup)"
				}
			}
		}
		if got != tc.want {
			t.Errorf("%s: %s, want %s", tc.sel, got, tc.want)
		}
	}
	all, _ := selectWorkloads("all")
	if len(all) != len(workloads) {
		t.Errorf("all selects %d of %d", len(all), len(workloads))
	}
}

func TestBenchName(t *testing.T) {
	for in, want := range map[string]string{
		"fillseq":     "Fillseq",
		"fillsync/16": "Fillsync/threads=16",
		"ycsb-a":      "YCSB/workload=a",
	} {
		if got := benchName(in); got != want {
			t.Errorf("benchName(%q) = %q, want %q", in, got, want)
		}
	}
}

// Every YCSB workload but the load has a mix that adds up to one.
func TestYCSBMixes(t *testing.T) {
	for _, w := range workloads {
		if w.group != "ycsb" || w.name == "ycsb-load" {
			continue
		}
		m, ok := ycsbMixes[w.name]
		if !ok {
			t.Errorf("%s: no mix", w.name)
			continue
		}
		if sum := m.read + m.update + m.insert + m.scan + m.rmw; fmt.Sprintf("%.6f", sum) != "1.000000" {
			t.Errorf("%s: mix adds up to %v", w.name, sum)
		}
	}
}
