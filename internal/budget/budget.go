// Package budget holds benchmarks to the project's speed and size budgets:
// each figure is reported beside its budget, and a figure over its budget
// fails the benchmark, so that `make bench` exits non-zero and says which.
package budget

import (
	"fmt"
	"io"
	"os"
	"testing"
)

// Max reports got, in unit, as a metric of b, prints it beside its budget
// (at most max), and fails b when it is over. name says what was measured.
func Max(b testing.TB, name string, got, max float64, unit string) {
	b.Helper()
	if bb, ok := b.(*testing.B); ok {
		bb.ReportMetric(got, unit)
	}
	line, over := Line(name, got, max, unit)
	fmt.Fprintln(out, line)
	if over {
		b.Errorf("%s: %.3g %s, over its budget of %.3g %s", name, got, unit, max, unit)
	}
}

// out is where the budget lines go: stdout, which go test shows for every
// package.
var out io.Writer = os.Stdout

// Line is the budget line for a figure, and whether it is over.
func Line(name string, got, max float64, unit string) (string, bool) {
	verdict := "ok"
	over := got > max
	if over {
		verdict = "OVER"
	}
	return fmt.Sprintf("budget: %-48s %10.3f %-14s budget <= %-8.4g %s", name, got, unit, max, verdict), over
}
