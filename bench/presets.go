package main

import (
	"flag"
	"fmt"
	"strings"
)

// preset is one of the standard runs (`make compare`, README "The standard
// set"): flag values that apply unless the command line gives the same
// flags, so `-preset 300k -engines dkv,pebble` is the 300k run on two
// engines. Children get the parent's arguments, -preset included, so they
// see the same options.
type preset struct {
	name  string
	desc  string
	flags [][2]string // flag name, value
}

var presets = []preset{
	{name: "1m", desc: "every workload on every engine at 1,000,000 keys (the defaults), into results",
		flags: [][2]string{{"out", "results"}}},
	{name: "300k", desc: "300,000 keys, which fillrandom leaves in the 64 MiB memtables, readwhilewriting's writer paced at 20,000/s, into results/300k",
		flags: [][2]string{
			{"num", "300000"},
			{"benchmarks", "fillbatch,fillrandom,overwrite,readrandom,readseq,seekrandom,readwhilewriting,deleterandom"},
			{"writes_per_sec", "20000"},
			{"settle", "true"},
			{"out", "results/300k"},
		}},
	{name: "10m", desc: "10,000,000 keys, then 1,000,000 reads per workload, readwhilewriting's writer paced at 20,000/s, without Badger, into results/10m",
		flags: [][2]string{
			{"num", "10000000"},
			{"reads", "1000000"},
			{"benchmarks", "fillrandom,readrandom,readseq,seekrandom,readwhilewriting"},
			{"engines", "dkv,pebble,goleveldb,rocksdb"},
			{"writes_per_sec", "20000"},
			{"settle", "true"},
			{"out", "results/10m"},
		}},
}

func presetNames() string {
	names := make([]string, len(presets))
	for i, p := range presets {
		names[i] = p.name
	}
	return strings.Join(names, ", ")
}

// applyPreset sets the flags of the preset fs's -preset names, except those
// the command line set. fs has been parsed.
func applyPreset(fs *flag.FlagSet, name string) error {
	if name == "" {
		return nil
	}
	for _, p := range presets {
		if p.name != name {
			continue
		}
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		for _, kv := range p.flags {
			if given[kv[0]] {
				continue
			}
			if err := fs.Set(kv[0], kv[1]); err != nil {
				return fmt.Errorf("-preset %s: -%s=%s: %w", name, kv[0], kv[1], err)
			}
		}
		return nil
	}
	return fmt.Errorf("-preset %q: want one of %s", name, presetNames())
}

// presetUsage lists the presets for -h.
func presetUsage() string {
	var b strings.Builder
	for _, p := range presets {
		var flags []string
		for _, kv := range p.flags {
			flags = append(flags, "-"+kv[0]+"="+kv[1])
		}
		fmt.Fprintf(&b, "  %-5s %s:\n        %s\n", p.name, p.desc, strings.Join(flags, " "))
	}
	return b.String()
}

// presetLabel is "preset 300k: " for the lines that start a run.
func presetLabel(o *options) string {
	if o.Preset == "" {
		return ""
	}
	return "preset " + o.Preset + ": "
}

// writerRate describes readwhilewriting's writer.
func writerRate(o *options) string {
	if o.WritesPerSec > 0 {
		return fmt.Sprintf("%d/s", o.WritesPerSec)
	}
	return "unlimited"
}
