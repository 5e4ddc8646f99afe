package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/distributedkv/dkv/internal/base"
)

// How commands print, after the root's flags -o (text or json) and --hex.
//
// In text, what a person reads is aligned tables on stdout. In JSON, each
// command writes one JSON object on stdout, indented, followed by a newline
// (streams like scan's keys are an array in it); a command that fails
// before it has anything to report writes nothing there, and one that stops
// at damage after reading something (scan, sstable, wal, manifest) writes
// what it read with an "error" member. Errors, logs and progress go to
// stderr as text in both. Keys and values in JSON are strings: hex under
// --hex; otherwise the bytes themselves when they are UTF-8 text, and
// {"hex": "…"} when they are not (JSON strings cannot hold other bytes).
// JSON values are never cut; sizes are numbers of bytes.

// outputFormat is the value of -o: "text" or "json". Set refuses anything
// else, so that a bad value is a flag error (exit 2).
type outputFormat string

const (
	outputText outputFormat = "text"
	outputJSON outputFormat = "json"
)

func (o *outputFormat) String() string { return string(*o) }
func (o *outputFormat) Type() string   { return "format" }

func (o *outputFormat) Set(s string) error {
	switch f := outputFormat(s); f {
	case outputText, outputJSON:
		*o = f
		return nil
	}
	return errors.New(`must be "text" or "json"`)
}

// globals are the root command's flags, which every command reads.
type globals struct {
	dir    string
	output outputFormat
	hex    bool
}

// json reports whether output is a JSON document.
func (g *globals) json() bool { return g.output == outputJSON }

// arg decodes a key or value given on the command line (what names it in
// an error): its bytes, or under --hex the bytes it spells in hex (either
// case, an even number of digits). Bad hex is a usage error.
func (g *globals) arg(what, s string) ([]byte, error) {
	if !g.hex {
		return []byte(s), nil
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, usageError("--hex: %s %q is not hex (%v)", what, s, err)
	}
	return b, nil
}

// key formats a key for a table cell, whole: as display does, or in hex.
func (g *globals) key(b []byte) string { return g.cut(b, 0) }

// value formats a value for a table cell, cut at maxShown bytes.
func (g *globals) value(b []byte) string { return g.cut(b, maxShown) }

// cut formats b for a table cell, cut at limit bytes (0: whole) and marked
// "…" when cut: as display does, or under --hex in lowercase hex (the
// empty string as "", so that the cell is not blank).
func (g *globals) cut(b []byte, limit int) string {
	if !g.hex {
		return display(b, limit)
	}
	if len(b) == 0 {
		return `""`
	}
	if limit > 0 && len(b) > limit {
		return hex.EncodeToString(b[:limit]) + "…"
	}
	return hex.EncodeToString(b)
}

// hexQuoted rewrites the Go-quoted strings of s in hex: for text that
// prints keys with %q, as base.InternalKey.String does. Apply it only to
// text whose quoted strings are all keys.
func (g *globals) hexQuoted(s string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		q, err := strconv.QuotedPrefix(s[i:])
		if err != nil {
			break
		}
		u, err := strconv.Unquote(q)
		if err != nil {
			break
		}
		b.WriteString(s[:i])
		b.WriteString(g.key([]byte(u)))
		s = s[i+len(q):]
	}
	b.WriteString(s)
	return b.String()
}

// bytes returns b as a JSON document holds a key or value (see above). It
// copies b.
func (g *globals) bytes(b []byte) any {
	switch {
	case g.hex:
		return hex.EncodeToString(b)
	case utf8.Valid(b):
		return string(b)
	}
	return hexBytes{Hex: hex.EncodeToString(b)}
}

// optBytes is bytes, with nil (an absent bound) as null.
func (g *globals) optBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return g.bytes(b)
}

// hexBytes is a key or value of a JSON document that is not UTF-8 text.
type hexBytes struct {
	Hex string `json:"hex"`
}

// jsonKey is an internal key in a JSON document.
type jsonKey struct {
	Key  any    `json:"key"`
	Seq  uint64 `json:"seq"`
	Kind string `json:"kind"`
}

func (g *globals) jsonKey(k base.InternalKey) jsonKey {
	return jsonKey{Key: g.bytes(k.UserKey), Seq: uint64(k.SeqNum()), Kind: k.Kind().String()}
}

// writeJSON writes doc to w as one indented JSON document and a newline.
func writeJSON(w io.Writer, doc any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// errorText is err's message for the "error" member of a JSON document
// (empty when err is nil), without the "dkv: " of errors.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	return trimDKV(err.Error())
}
