package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// runParent runs every selected engine × workload group, each in its own
// process, one at a time, and writes the report.
func runParent(o *options, args []string, stdout, stderr io.Writer) error {
	engs, err := parseEngines(o.Engines)
	if err != nil {
		return err
	}
	sel, err := selectWorkloads(o.Benchmarks)
	if err != nil {
		return err
	}
	groups, plans := groupPlans(sel)
	root := o.DB
	if root == "" {
		if root, err = os.MkdirTemp("", "dkv-bench-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	if !o.Keep {
		defer os.RemoveAll(root) //nolint:errcheck // best effort
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	u := newUI(stderr, o.Progress)
	rep := &Report{
		Version: 1, Command: strings.TrimSpace("go run . " + strings.Join(args, " ")),
		Started: time.Now(), Host: hostInfo(), Options: *o,
	}
	u.linef("bench: %s%d keys, %d-byte keys, %d-byte values (compressible to %.0f%%), sync=%v, threads=%d, settle=%v, writer %s, engines %s, db %s",
		presetLabel(o), o.Num, KeySize, o.ValueSize, 100*o.CompressionRatio, o.Sync, o.Threads, o.Settle, writerRate(o), strings.Join(engs, ","), root)
	for _, e := range engs {
		info := EngineInfo{Name: e, Version: engineVersion(e)}
		if e == rocksdbName {
			runRocksDBAll(o, root, groups, plans, u, rep, &info)
		} else {
			for _, g := range groups {
				results, settings, err := runGoChild(exe, args, root, e, g, u)
				rep.Results = append(rep.Results, results...)
				if info.Settings == nil || settings.fromUnsynced {
					info.Settings = settings.list
				}
				if err != nil {
					rep.Failures = append(rep.Failures, fmt.Sprintf("%s %s: %v", e, g, err))
					u.linef("%s %s: FAILED: %v", e, g, err)
				}
			}
		}
		rep.Engines = append(rep.Engines, info)
	}
	u.clear()
	rep.Seconds = time.Since(rep.Started).Seconds()
	sortResults(rep.Results)
	rep.Caveats = caveats(o, rep)
	if err := writeOutputs(o, rep, selectedInOrder(sel), u); err != nil {
		return err
	}
	if o.GoBench {
		writeGoBench(stdout, rep)
	} else {
		writeTables(stdout, rep, selectedInOrder(sel))
	}
	if len(rep.Failures) > 0 {
		return fmt.Errorf("%d engine groups failed: %s", len(rep.Failures), strings.Join(rep.Failures, "; "))
	}
	return nil
}

// childSettings are the settings a child reported.
type childSettings struct {
	list         []Setting
	fromUnsynced bool // from a database opened in the run's sync mode (not fillsync's)
}

// runGoChild re-executes this binary with -child for one engine and group
// and collects its results.
func runGoChild(exe string, args []string, root, engine, group string, u *ui) ([]Result, childSettings, error) {
	childArgs := append(append([]string{}, args...), "-db", root, "-child", engine+"/"+group)
	cmd := exec.Command(exe, childArgs...)
	cmd.Stderr = u
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, childSettings{}, err
	}
	if err := cmd.Start(); err != nil {
		return nil, childSettings{}, err
	}
	var results []Result
	var settings childSettings
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var m message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			u.linef("%s %s: %s", engine, group, sc.Text())
			continue
		}
		switch m.Type {
		case "settings":
			if settings.list == nil || (!m.Synced && !settings.fromUnsynced) {
				settings = childSettings{list: m.Settings, fromUnsynced: !m.Synced}
			}
		case "progress":
			u.progress(engine, m.Workload, m.Done, m.Total)
		case "settle":
			if m.Settle != nil {
				u.linef("%s", settleLine(engine, m.Workload, m.Settle))
			}
		case "result":
			if m.Result != nil {
				results = append(results, *m.Result)
				u.result(m.Result)
			}
		}
	}
	err = cmd.Wait()
	if err == nil {
		err = sc.Err()
	}
	return results, settings, err
}

// engineVersion returns the module version an engine was built from.
func engineVersion(engine string) string {
	paths := map[string]string{
		"dkv":       "github.com/distributedkv/dkv",
		"pebble":    "github.com/cockroachdb/pebble/v2",
		"goleveldb": "github.com/syndtr/goleveldb",
		"badger":    "github.com/dgraph-io/badger/v4",
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok || paths[engine] == "" {
		return ""
	}
	for _, d := range bi.Deps {
		if d.Path == paths[engine] {
			if d.Replace != nil && d.Replace.Version == "" { // a local directory
				v := "local " + d.Replace.Path
				// Read-only: the commit of the working tree the harness
				// was built from (uncommitted changes are not shown).
				if out, err := exec.Command("git", "-C", d.Replace.Path, "rev-parse", "--short", "HEAD").Output(); err == nil {
					v += " at commit " + strings.TrimSpace(string(out))
				}
				return v
			}
			if d.Replace != nil {
				return d.Replace.Path + " " + d.Replace.Version
			}
			return d.Version
		}
	}
	return ""
}

func hostInfo() Host {
	h := Host{GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, NumCPU: runtime.NumCPU()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				h.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(data))
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				h.MemTotal = strings.TrimSpace(v)
			}
		}
	}
	return h
}
