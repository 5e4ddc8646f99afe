// Command cluster measures a three-node dkv cluster through the Go client:
// throughput, latency percentiles, errors and the nodes' CPU time per
// operation, for puts, linearizable gets and a 50/50 mix at several counts
// of concurrent clients.
//
//	cd bench && go run ./cluster            # the full measurement (make compare-cluster)
//	go run ./cluster -duration 1s -warmup 0s -keys 2000 -clients 1,16   # a smoke run
//
// # How it runs
//
// run (main.go) builds ../cmd/dkv (or takes -dkv), starts three `dkv start`
// processes on free 127.0.0.1 ports, each with its own data directory in a
// temporary directory on the OS filesystem (every write fsynced: the
// nodes' default), bootstrapping one cluster with --cluster (nodes.go). It
// waits for each node's /healthz and for every range to have a leader
// (GET /api/v1/ranges), preloads -keys keys from -load_clients goroutines,
// then runs one cell per workload and client count (workload.go). At the
// end it reads each node's peak RSS (VmHWM), stops the nodes with SIGTERM
// (SIGKILL after 15 s), prints the table and writes summary.txt and
// results.json (report.go) into -out. Ctrl-C stops the cells and the nodes
// the same way and writes nothing; the nodes run in their own process
// group and die with the benchmark (Pdeathsig) if it is killed.
//
// # What a cell measures
//
// A cell runs N goroutines, each a closed loop of operations on keys drawn
// uniformly from the preloaded ones, through one shared *client.Client (the
// client's documented use: one per cluster, safe for concurrent use), or
// one per goroutine with -client_per_worker. Operations that start during
// -warmup are not counted; those that start in the following -duration
// are: ops/s counts the successful ones, the latency histogram
// (internal/histogram) every one, failed ones included, and errors are
// counted by kind (ambiguous writes, other failures, gets that found no
// value). The nodes' and this process's CPU times (utime + stime of
// /proc/PID/stat, in 10 ms ticks) are read at the window's edges, giving
// CPU µs per successful operation: the nodes' (cpu/op) and the client's
// (bench cpu/op), which shares the machine with the nodes.
package main
