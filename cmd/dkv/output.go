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
// stderr as text in both. JSON values are never cut; sizes are numbers of
// bytes.
//
// A key or value in JSON is always a string, whole: under --hex its bytes
// in lowercase hex; otherwise its bytes as text, which is exact for UTF-8
// (JSON escapes control characters). Bytes that are not UTF-8 a JSON
// string cannot hold: rather than change them or switch to another type,
// the command refuses to write the document, a usage error that says to
// pass --hex (and a key or value given on the command line is refused
// before anything is done). So a program's "key" is a string in every
// document, decoded the one way its flags say.

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

	// notText is the first key or value that bytes could not give as JSON
	// text; writeJSON refuses a document once it is set.
	notText []byte
}

// json reports whether output is a JSON document.
func (g *globals) json() bool { return g.output == outputJSON }

// arg decodes a key or value given on the command line (what names it in
// an error): its bytes, or under --hex the bytes it spells in hex (either
// case, an even number of digits). Bad hex is a usage error, and so are
// bytes that are not UTF-8 under -o json without --hex, which could not be
// printed back.
func (g *globals) arg(what, s string) ([]byte, error) {
	if !g.hex {
		if g.json() && !utf8.ValidString(s) {
			return nil, usageError("%s %s is not UTF-8 text, which -o json cannot print exactly: pass --hex and give it in hex",
				what, display([]byte(s), maxShown))
		}
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

// bytes returns b as a JSON document holds a key or value (see above): a
// string, hex under --hex, otherwise text. It copies b. Bytes that are not
// UTF-8 text without --hex make writeJSON refuse the document.
func (g *globals) bytes(b []byte) string {
	switch {
	case g.hex:
		return hex.EncodeToString(b)
	case !utf8.Valid(b) && g.notText == nil:
		g.notText = append([]byte{}, b...)
	}
	return string(b)
}

// optBytes is bytes, with nil (an absent bound) as null.
func (g *globals) optBytes(b []byte) *string {
	if b == nil {
		return nil
	}
	s := g.bytes(b)
	return &s
}

// jsonKey is an internal key in a JSON document.
type jsonKey struct {
	Key  string `json:"key"`
	Seq  uint64 `json:"seq"`
	Kind string `json:"kind"`
}

func (g *globals) jsonKey(k base.InternalKey) jsonKey {
	return jsonKey{Key: g.bytes(k.UserKey), Seq: uint64(k.SeqNum()), Kind: k.Kind().String()}
}

// writeJSON writes doc to w as one indented JSON document and a newline,
// unless a key or value of it is not UTF-8 text (see bytes): then it
// writes nothing and returns a usage error.
func (g *globals) writeJSON(w io.Writer, doc any) error {
	if g.notText != nil {
		return usageError("%s is not UTF-8 text, which a JSON string cannot hold exactly: pass --hex to have keys and values in hex",
			display(g.notText, maxShown))
	}
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
