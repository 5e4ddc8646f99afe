package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Process measurements, the same for every engine: they come from the
// kernel, not from the engine. proc is "self" in a child, or a pid for
// db_bench.

// ioCounters are the storage counters of /proc/PID/io.
type ioCounters struct {
	WriteBytes     int64 // bytes the process caused to be sent to storage (pages it dirtied)
	CancelledBytes int64 // dirty bytes truncated before they reached storage
}

func readIO(proc string) (ioCounters, error) {
	data, err := os.ReadFile(filepath.Join("/proc", proc, "io"))
	if err != nil {
		return ioCounters{}, err
	}
	var c ioCounters
	for _, line := range strings.Split(string(data), "\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		switch name {
		case "write_bytes":
			c.WriteBytes = n
		case "cancelled_write_bytes":
			c.CancelledBytes = n
		}
	}
	return c, nil
}

// readPeakRSS returns VmHWM, the peak resident set size, in bytes: since
// the process started, or since the last resetPeakRSS.
func readPeakRSS(proc string) (int64, error) {
	f, err := os.Open(filepath.Join("/proc", proc, "status"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmHWM:")); ok {
			f := strings.Fields(string(rest)) // "123456 kB"
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%s/status", proc)
}

// resetPeakRSS sets VmHWM back to the current RSS (Linux 4.0+), so that the
// next readPeakRSS reports the peak of one workload. An error means the
// peaks accumulate from the process's start.
func resetPeakRSS(proc string) error {
	return os.WriteFile(filepath.Join("/proc", proc, "clear_refs"), []byte("5"), 0)
}

// dirSize returns the size of the files under dir: live is the sum over
// files of the smaller of their allocated blocks and their length, which
// leaves out both the space preallocated past the end of a file (Pebble's
// and RocksDB's write-ahead logs) and the holes of sparse files (Badger's
// mmapped logs); apparent is the sum of their lengths.
func dirSize(dir string) (live, apparent int64, err error) {
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) { // deleted by a compaction meanwhile
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		apparent += info.Size()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			live += min(st.Blocks*512, info.Size())
		} else {
			live += info.Size()
		}
		return nil
	})
	return live, apparent, err
}
