// Package datadriven runs data-driven test files, in the style of etcd
// raft's testdata: a file is a sequence of cases, each a command line
// "cmd key=value …", input lines, a "----" line, the expected output and a
// blank line. Lines starting with # between cases are comments. Such a file
// reads as executable documentation: what was done, and what came of it.
//
// It is a test helper: only tests import it.
package datadriven

import (
	"bufio"
	"bytes"
	"os"
	"strings"
	"testing"
)

// Run executes the cases of the file at path, calling fn with each
// command, its arguments (the words after it) and its input lines, and
// compares what fn returns with the expected output. With update it
// rewrites the file with what fn returned instead.
func Run(t testing.TB, path string, update bool, fn func(cmd string, args []string, input []string) string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		var input []string
		for sc.Scan() && sc.Text() != "----" {
			input = append(input, sc.Text())
			out.WriteString(sc.Text() + "\n")
		}
		var want []string
		for sc.Scan() && sc.Text() != "" {
			want = append(want, sc.Text())
		}
		got := fn(fields[0], fields[1:], input)
		out.WriteString("----\n")
		if got != "" {
			out.WriteString(got + "\n")
		}
		out.WriteString("\n")
		if !update && got != strings.Join(want, "\n") {
			t.Errorf("%s: %s\ngot:\n%s\nwant:\n%s", path, line, got, strings.Join(want, "\n"))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if update {
		if err := os.WriteFile(path, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// KeyValues returns the key=value arguments of a command as a map; an
// argument without "=" maps to "".
func KeyValues(args []string) map[string]string {
	m := make(map[string]string, len(args))
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		m[k] = v
	}
	return m
}
