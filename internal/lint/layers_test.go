package lint

import (
	"go/build"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/distributedkv/dkv"

// layers assigns every package of the module (by path relative to the
// module root) to its layer in DESIGN.md. An import may only point to a
// lower layer (or, for the tools, as noted). A new package must be added
// here, which is the moment to decide where it belongs.
var layers = map[string]int{
	"internal/base":       0,
	"internal/datadriven": 0,
	"internal/invariants": 0,
	"internal/killpoint":  0,
	"internal/manual":     0,
	"internal/leaktest":   0,
	"internal/rangedel":   0,
	"vfs":                 0,
	"wal":                 1,
	"memtable":            1,
	"sstable":             1,
	"internal/iterator":   1,
	"manifest":            2,
	"compaction":          2,
	".":                   3,
	// The cluster (DESIGN.md "The cluster (now)"): C0 (and the key layout,
	// its vocabulary) at 4, C1 at 5, the
	// replica at 6 and the store that owns replicas at 7, the node and the
	// client at 8, the tests' harness at 9.
	"cluster/kvpb":        4,
	"cluster/keys":        4,
	"cluster/raftlog":     5,
	"cluster/transport":   5,
	"cluster/replica":     6,
	"cluster/store":       7,
	"cluster/server":      8,
	"client":              8,
	"cluster/clustertest": 9,
	"cmd/dkv":             10,
	"internal/lint":       10,
}

// sideways lists the imports allowed within one layer. DESIGN.md describes
// compaction as "version → plan" and "→ version edit": it speaks manifest's
// types.
var sideways = map[string][]string{
	"compaction": {"manifest"},
	// Range tombstones are a data structure over internal keys' parts.
	"internal/rangedel": {"internal/base"},
}

// external lists the modules outside the standard library that each package
// may import in non-test code. Tests may also import testify.
var external = map[string][]string{
	"memtable": {"github.com/google/btree"},
	"sstable":  {"github.com/klauspost/compress"},
	"cmd/dkv":  {"github.com/spf13/cobra", grpc, protobuf},

	"cluster/kvpb":        {grpc, protobuf},
	"cluster/raftlog":     {raft, protobuf},
	"cluster/transport":   {grpc, protobuf},
	"cluster/replica":     {raft, protobuf},
	"cluster/store":       {raft, protobuf},
	"cluster/server":      {grpc, protobuf, raft},
	"client":              {grpc, protobuf},
	"cluster/clustertest": {grpc, protobuf, raft, "github.com/anishathalye/porcupine"},
}

// The cluster's dependencies (DESIGN.md).
const (
	grpc     = "google.golang.org/grpc"
	protobuf = "google.golang.org/protobuf"
	raft     = "go.etcd.io/raft/v3"
)

// anywhere may be imported by any engine package.
var anywhere = []string{"golang.org/x/sys"}

var testOnly = []string{"github.com/stretchr/testify"}

func TestLayers(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bench" || name == "docs") {
			return filepath.SkipDir // bench/ is its own module
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			if _, ok := err.(*build.NoGoError); ok {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		seen[rel] = true
		layer, ok := layers[rel]
		if !ok {
			t.Errorf("package %s has no layer: add it to the table in layers_test.go (and to DESIGN.md)", rel)
			return nil
		}
		check := func(imports []string, test bool) {
			for _, imp := range imports {
				if msg := judge(rel, layer, imp, test); msg != "" {
					t.Errorf("%s imports %s: %s", rel, imp, msg)
				}
			}
		}
		check(pkg.Imports, false)
		check(pkg.TestImports, true)
		check(pkg.XTestImports, true)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{".", "internal/base", "vfs", "wal", "memtable", "cmd/dkv"} {
		if !seen[must] {
			t.Errorf("package %s was not found: the walk is broken", must)
		}
	}
}

// judge returns why importing imp from package rel (in layer) is wrong, or
// "".
func judge(rel string, layer int, imp string, test bool) string {
	if target, ok := strings.CutPrefix(imp, module); ok {
		target = strings.TrimPrefix(target, "/")
		if target == "" {
			target = "."
		}
		if target == rel {
			return "" // an external test importing its own package
		}
		tl, ok := layers[target]
		switch {
		case !ok:
			return "unknown package"
		case rel == "cmd/dkv" && tl >= 1 && tl < layer:
			return "" // the tool may read every layer below it
		case slices.Contains(sideways[rel], target):
			return ""
		case tl >= layer:
			return "imports must point to a lower layer (DESIGN.md)"
		}
		return ""
	}
	first, _, _ := strings.Cut(imp, "/")
	if !strings.Contains(first, ".") {
		return "" // standard library
	}
	allowed := append(slices.Clone(external[rel]), anywhere...)
	if test {
		allowed = append(allowed, testOnly...)
	}
	for _, a := range allowed {
		if imp == a || strings.HasPrefix(imp, a+"/") {
			return ""
		}
	}
	return "dependency not chosen for this package (DESIGN.md: engine dependencies)"
}

// The judge itself must refuse what it should.
func TestJudge(t *testing.T) {
	bad := [][3]string{
		{"vfs", module + "/wal", "upward"},
		{"wal", module + "/memtable", "sideways"},
		{"internal/base", "github.com/google/btree", "dependency"},
		{"wal", "github.com/stretchr/testify/require", "testify outside tests"},
		{".", module + "/cmd/dkv", "upward from root"},
		{"manifest", module + "/compaction", "sideways, not allowed"},
		{".", module + "/cluster/store", "the engine never imports the cluster"},
		{"sstable", module + "/client", "the engine never imports the client"},
		{"cluster/raftlog", module + "/cluster/replica", "upward in the cluster"},
		{"wal", "go.etcd.io/raft/v3", "raft outside the cluster"},
		{"client", module + "/cluster/server", "the client never imports a node"},
	}
	for _, b := range bad {
		if judge(b[0], layers[b[0]], b[1], false) == "" {
			t.Errorf("%s -> %s (%s) was allowed", b[0], b[1], b[2])
		}
	}
	good := [][2]string{
		{"memtable", "github.com/google/btree"},
		{".", module + "/wal"},
		{"cmd/dkv", module + "/wal"},
		{"wal", "hash/crc32"},
	}
	for _, g := range good {
		if msg := judge(g[0], layers[g[0]], g[1], false); msg != "" {
			t.Errorf("%s -> %s refused: %s", g[0], g[1], msg)
		}
	}
}
