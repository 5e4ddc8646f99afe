// Package histogram records latencies in log-linear buckets, like
// HdrHistogram's, for the benchmark commands of this module.
//
// A Histogram holds one bucket per nanosecond below 32 ns and, above that,
// 16 equal buckets per power of two, so a quantile it reports (the middle
// of the bucket that holds it, clamped to the observed minimum and
// maximum) is within 1/32 (about 3%) of the true value whatever its
// magnitude. Recording is a few instructions and no allocation.
//
// A Histogram is not safe for concurrent use: each goroutine keeps its own
// and the owner merges them (Merge) once the goroutines are done. The zero
// value is empty and ready to use.
//
// The engine harness (package main of bench/) has its own copy of the same
// buckets in bench/histogram.go; this package is the one to share.
package histogram
