package images

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one mistake in a definition, at its place.
type Problem struct {
	// File is the definition's path as it was given.
	File string
	// Line and Column locate the mistake, both from 1; Line is 0 when the
	// mistake is with the file as a whole (it cannot be read, say).
	Line, Column int
	// Message says what is wrong, starting with the setting's name.
	Message string
}

// String returns the problem as "file:line:col: message", or
// "file: message" when it has no place in the file.
func (p Problem) String() string {
	if p.Line == 0 {
		return fmt.Sprintf("%s: %s", p.File, p.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Message)
}

// Problems are every mistake found in a set of definitions, in file and
// position order. As an error it reads one problem per line.
type Problems []Problem

// Error returns the problems, one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sort orders ps by file, then position; problems at the same place keep
// the order they were found in.
func (ps Problems) sort() {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
		)
	})
}
