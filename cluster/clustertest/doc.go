// Package clustertest proves the cluster's promises from outside: a
// deterministic simulation of several Stores over a simulated network and
// crashable in-memory filesystems (Sim), in-process clusters of real nodes
// over gRPC on 127.0.0.1 with the transport's fault interposer, and the
// checkers both use — a porcupine model of the key-value API with
// ambiguous outcomes (KVModel), a History recorder, and a set check —
// and real `dkv start` processes (process.go: built once per test binary,
// each on 127.0.0.1, SIGKILLed, SIGSTOPped and restarted by the tests).
//
// A failing seed of the simulation is a regression test: add it to the
// seeds the tests always run.
package clustertest
