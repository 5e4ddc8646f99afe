package main

import (
	"testing"
	"time"
)

// utime and stime are fields 14 and 15, counted after the command name,
// which may hold spaces and parentheses.
func TestParseStatCPU(t *testing.T) {
	line := "4242 (dkv (a b)) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 37 0 0 20 0 12 0 5555 123456 789 18446744073709551615\n"
	got, err := parseStatCPU([]byte(line))
	if err != nil || got != 2870*time.Millisecond {
		t.Fatalf("parseStatCPU = %v, %v; want 2.87s", got, err)
	}
	if _, err := parseStatCPU([]byte("4242 (dkv) S 1 2")); err == nil {
		t.Fatal("a short line parsed")
	}
	if _, err := cpuTime("self"); err != nil {
		t.Fatalf("this process: %v", err)
	}
}

// Keys are 16 decimal digits, so they sort by index.
func TestPutKey(t *testing.T) {
	var k [keyLen]byte
	putKey(&k, 1234567)
	if string(k[:]) != "0000000001234567" {
		t.Fatalf("key %q", k)
	}
}
