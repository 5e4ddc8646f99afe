// Package lint holds the checks that keep the code base in shape: its tests
// fail when an import points the wrong way between the layers of
// shared/DESIGN.md, or when a package reaches for a dependency the engine
// has not chosen. It has no code of its own.
package lint
