package main

import (
	"io"
	"strings"
	"testing"
)

// The member's configuration is etcd's defaults but for the names, URLs
// and directory; fsync stays on, and only loopback URLs are accepted.
func TestParse(t *testing.T) {
	cfg, _, err := parse([]string{"-name", "e2", "-data-dir", "/tmp/e2", "-client-url", "http://127.0.0.1:4001",
		"-peer-url", "http://127.0.0.1:4002", "-initial-cluster", "e1=http://127.0.0.1:4000,e2=http://127.0.0.1:4002"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "e2" || cfg.Dir != "/tmp/e2" || cfg.ListenClientUrls[0].Host != "127.0.0.1:4001" ||
		cfg.AdvertisePeerUrls[0].Host != "127.0.0.1:4002" || cfg.ClusterState != "new" || cfg.UnsafeNoFsync ||
		cfg.QuotaBackendBytes != 0 || cfg.SnapshotCount != 10000 || len(cfg.ListenClientHttpUrls) != 0 || len(cfg.ListenMetricsUrls) != 0 {
		t.Fatalf("config: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	for _, args := range [][]string{
		{"-name", "e1", "-data-dir", "d", "-initial-cluster", "x", "-client-url", "http://0.0.0.0:1", "-peer-url", "http://127.0.0.1:2"},
		{"-name", "e1", "-data-dir", "d", "-initial-cluster", "x", "-client-url", "http://localhost:1", "-peer-url", "http://127.0.0.1:2"},
		{"-name", "e1", "-data-dir", "d", "-initial-cluster", "x", "-client-url", "http://127.0.0.1:1"},
	} {
		if _, _, err := parse(args, io.Discard); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%q: error %v, want a loopback one", args, err)
		}
	}
	if _, _, err := parse([]string{"-name", "e1"}, io.Discard); err == nil {
		t.Error("missing flags accepted")
	}
}
