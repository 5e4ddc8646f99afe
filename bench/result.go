package main

import "time"

// Result is one engine × workload measurement, as the child prints it and
// results.json stores it.
type Result struct {
	Engine   string `json:"engine"`
	Workload string `json:"workload"`
	Group    string `json:"group"` // workloads of one group share a database, in order
	Threads  int    `json:"threads"`

	Ops         int64   `json:"ops"` // operations (for fillbatch: entries written)
	Seconds     float64 `json:"seconds"`
	OpsPerSec   float64 `json:"ops_per_sec"`
	MicrosPerOp float64 `json:"micros_per_op"` // wall time × threads / ops, as db_bench

	// Latency percentiles in microseconds, of each operation or, when
	// LatencyUnit is "batch", of each batch.
	LatencyUnit string  `json:"latency_unit"`
	MeanMicros  float64 `json:"mean_us"`
	P50         float64 `json:"p50_us"`
	P99         float64 `json:"p99_us"`
	P999        float64 `json:"p999_us"`
	MaxMicros   float64 `json:"max_us,omitempty"`

	Found int64 `json:"found,omitempty"` // reads that found their key

	// UserBytes are the keys and values the workload wrote (deletes: keys).
	UserBytes int64 `json:"user_bytes"`
	// DiskWriteBytes is write_bytes of /proc/PID/io over the workload:
	// bytes of pages the engine's process dirtied (WAL, tables, everything).
	DiskWriteBytes int64 `json:"disk_write_bytes"`
	// CancelledWriteBytes is cancelled_write_bytes over the workload: dirty
	// pages of files truncated or deleted before they reached the disk.
	CancelledWriteBytes int64 `json:"cancelled_write_bytes"`
	// WriteBytesPerUserByte is DiskWriteBytes / UserBytes (0: no user writes).
	WriteBytesPerUserByte float64 `json:"write_bytes_per_user_byte"`
	// DiskSize is the size of the database directory after the workload:
	// per file, the smaller of its allocated blocks and its length (see
	// dirSize); DiskApparentSize is the sum of the files' lengths.
	DiskSize         int64 `json:"disk_size"`
	DiskApparentSize int64 `json:"disk_apparent_size"`
	// PeakRSS is VmHWM of the engine's process during the workload.
	PeakRSS int64 `json:"peak_rss"`
	// EngineWriteAmp is the write amplification the engine itself reports,
	// cumulative since its database was opened (nil: it reports none).
	EngineWriteAmp *float64 `json:"engine_write_amp,omitempty"`
	// Settle is the wait for background work before the workload (-settle;
	// nil: none). The figures above leave it out.
	Settle *Settle `json:"settle,omitempty"`

	Note string `json:"note,omitempty"`
}

// Report is results.json.
type Report struct {
	Version  int          `json:"version"`
	Command  string       `json:"command"`
	Started  time.Time    `json:"started"`
	Seconds  float64      `json:"seconds"`
	Host     Host         `json:"host"`
	Options  options      `json:"options"`
	Engines  []EngineInfo `json:"engines"`
	Results  []Result     `json:"results"`
	Caveats  []string     `json:"caveats,omitempty"`
	Failures []string     `json:"failures,omitempty"`
}

// Host describes the machine and toolchain.
type Host struct {
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPU       string `json:"cpu"`
	NumCPU    int    `json:"num_cpu"`
	Kernel    string `json:"kernel"`
	MemTotal  string `json:"mem_total"`
}

// EngineInfo is what the report says about one engine.
type EngineInfo struct {
	Name     string    `json:"name"`
	Version  string    `json:"version"`
	Settings []Setting `json:"settings,omitempty"`
	Skipped  string    `json:"skipped,omitempty"`
}
