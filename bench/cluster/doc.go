// Command cluster measures three-node clusters of dkv and of etcd side by
// side, each through its Go client: throughput, latency percentiles,
// errors and the servers' CPU time per operation, for puts, linearizable
// gets and a 50/50 mix at several counts of concurrent clients.
//
//	cd bench && go run ./cluster            # the full measurement (make compare-cluster)
//	go run ./cluster -systems dkv           # dkv alone, as before etcd was added
//	go run ./cluster -duration 1s -warmup 0s -keys 2000 -clients 1,16   # a smoke run
//
// # How it runs
//
// run (main.go) builds ../cmd/dkv (or takes -dkv) and etcdmember/ (or
// takes -etcd), a small program that runs one etcd v3.7.3 member through
// etcd's embed package with its default settings. It starts three `dkv
// start` processes (nodes.go) and three etcdmember processes (etcd.go) on
// free 127.0.0.1 ports, each with its own data directory in a temporary
// directory on the OS filesystem (every write fsynced: both systems'
// default). Both clusters stay up for the whole run, but only one is
// loaded at a time. It waits for each cluster to be ready (dkv: each
// node's /healthz and a leader for every range, GET /api/v1/ranges; etcd:
// every member's Status naming the same leader), makes each system's
// shared client (systems.go), preloads -keys keys into dkv, then into
// etcd, from -load_clients goroutines, then runs each cell (a workload at
// a client count) on every system back to back (workload.go): in -systems
// order, or with -order alternate in reverse order every other cell, so
// the machine's slow drifts hit both systems alike. At the end it reads
// each process's peak RSS (VmHWM), stops every process with SIGTERM
// (SIGKILL after 15 s), prints a table per system and the comparison, and
// writes summary.txt and results.json (report.go) into -out. Ctrl-C stops
// the cells and the processes the same way and writes nothing; the
// processes run in their own process groups and die with the benchmark
// (Pdeathsig) if it is killed.
//
// # What a cell measures
//
// A cell runs N goroutines, each a closed loop of operations on keys drawn
// uniformly from the preloaded ones, through one shared client per system
// (dkv's *client.Client, or etcd's *clientv3.Client given all three
// endpoints; each is meant to be shared), or one per goroutine with
// -client_per_worker. The keys, values and put/get choices come from the
// seed, so both systems see the same operations. Operations that start
// during -warmup are not counted; those that start in the following
// -duration are: ops/s counts the successful ones, the latency histogram
// (internal/histogram) every one, failed ones included, and errors are
// counted by kind (ambiguous writes, other failures, gets that found no
// value). The servers' and this process's CPU times (utime + stime of
// /proc/PID/stat, in 10 ms ticks) are read at the window's edges, giving
// CPU µs per successful operation: the cluster's three processes' (cpu/op)
// and the client's (bench cpu/op), which shares the machine with them.
//
// dkv's kvpb registers its protobuf file as cluster/kvpb/kv.proto, so it
// shares this binary with etcd's mvccpb (registered as "kv.proto").
package main
