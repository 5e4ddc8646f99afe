package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/manifest"
	"github.com/distributedkv/dkv/vfs"
)

// Helpers shared by the inspection commands (sstable, wal, manifest, lsm).
// These commands read the files of a database directly, through vfs.Default
// and the packages that own each format, without opening the database: they
// take no lock, never write, and work while another process holds the
// database open.

// maxShown is how many bytes of a value (or, in lsm, of a key) a table cell
// shows before cutting it with "…".
const maxShown = 40

// newTable returns a tabwriter for the aligned tables the inspection
// commands print. Flush it before returning, also on error, so that what
// was read is shown.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// display formats b for a table cell. Bytes that are all printable text
// are shown as they are; anything else (control or invalid UTF-8 bytes,
// quotes, backslashes, spaces at either end, and the empty string) is shown
// Go-quoted, so that every cell reads back unambiguously. limit > 0 cuts b
// to at most limit bytes (before a rune the cut would split) and marks the
// cut with "…" after the cell.
func display(b []byte, limit int) string {
	cut := false
	if limit > 0 && len(b) > limit {
		n := limit
		if !utf8.RuneStart(b[n]) {
			// The cut splits a rune: cut before it instead, when the bytes
			// there are a valid rune (not stray continuation bytes).
			for i := n - 1; i >= 0 && i > n-utf8.UTFMax; i-- {
				if utf8.RuneStart(b[i]) {
					if r, size := utf8.DecodeRune(b[i:]); r != utf8.RuneError && i+size > n {
						n = i
					}
					break
				}
			}
		}
		b, cut = b[:n], true
	}
	s := string(b)
	if needsQuote(s) {
		s = strconv.Quote(s)
	}
	if cut {
		s += "…"
	}
	return s
}

// needsQuote reports whether s would be ambiguous or unreadable unquoted.
func needsQuote(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' || !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if !strconv.IsPrint(r) || r == '"' || r == '\\' {
			return true
		}
	}
	return false
}

// humanSize formats a byte count with binary units: "612 B", "4.0 KiB",
// "1.5 MiB".
func humanSize(n uint64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n)/1024, 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	// %.1f rounds 1023.96 up to "1024.0": show the next unit instead.
	if f >= 1023.95 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, units[i])
}

// openFile opens path for reading and returns it with its size.
func openFile(path string) (vfs.File, int64, error) {
	f, err := vfs.Default.Open(path)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("stat %s: %w", path, err)
	}
	if st.IsDir() {
		_ = f.Close()
		return nil, 0, fmt.Errorf("%s is a directory", path)
	}
	return f, st.Size(), nil
}

// currentManifest returns the number of the MANIFEST that CURRENT names
// in dir. A directory without CURRENT is "no database in DIR".
func currentManifest(dir string) (base.FileNum, error) {
	num, ok, err := manifest.ReadCurrent(vfs.Default, dir)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("no database in %s", dir)
	}
	return num, nil
}

// replayManifest replays the MANIFEST numbered num in dir, calling visit
// (when set) with each edit. It takes no lock: a live database may be
// appending an edit, and Replay ignores a torn last record.
func replayManifest(dir string, num base.FileNum, visit func(offset int64, e *manifest.VersionEdit)) (*manifest.State, error) {
	return manifest.Replay(vfs.Default, dir, num, base.DefaultComparer, visit)
}

// count returns "1 entry" or "2 entries": n and the noun for it.
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// indent prefixes every line of s with prefix.
func indent(s, prefix string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString(prefix + line)
	}
	return b.String()
}
