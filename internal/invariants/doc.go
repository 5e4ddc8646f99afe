// Package invariants says whether expensive self-checks are on. They are
// on in builds with the "invariants" tag (go test -tags invariants, which
// the README's test command and CI use) and off otherwise, so production
// builds pay nothing for them.
package invariants
