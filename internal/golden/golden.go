// Package golden compares what a test renders with a golden file in
// testdata/, the same way in every package: one -update flag (go test
// ./builder -update rewrites that package's golden files), a render that
// must be deterministic, and a mismatch that names the file, the first
// line that differs and the command that accepts the change.
package golden

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// update is registered here, once, so that every package that checks
// golden files takes -update and none defines it again (flag would panic).
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// pkg is the package under test as go test names it from the module root,
// ./builder, for the hint. It is read when the test binary starts, in the
// package's directory, before a test changes directory (t.Chdir).
var pkg = packageDir()

// packageDir returns the working directory relative to the nearest
// directory with a go.mod, as ./DIR, or "." where there is none.
func packageDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			rel, err := filepath.Rel(dir, wd)
			if err != nil || rel == "." {
				return "."
			}
			return "./" + filepath.ToSlash(rel)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "."
		}
		dir = parent
	}
}

// Check renders twice and compares the render with the golden file at
// path; under -update it writes the render there instead. It returns the
// render. The two renders must be equal: a golden file pins only what is
// deterministic, and -update must not write one of two answers. A render
// error, a second render that differs or a missing file stops tb; a
// mismatch fails it and lets the test go on.
func Check(tb testing.TB, path string, render func() ([]byte, error)) []byte {
	tb.Helper()
	got := renderOnce(tb, path, render)
	again := renderOnce(tb, path, render)
	if line, first, second, differ := firstDiff(got, again); differ {
		tb.Fatalf("%s: the render is not deterministic: the first render gave %d bytes, the second %d; they first differ at line %d:\n first: %s\nsecond: %s",
			path, len(got), len(again), line, first, second)
	}
	if *update {
		write(tb, path, got)
		return got
	}
	want, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		tb.Fatalf("%s: no golden file; run go test %s -update to create it", path, pkg)
	}
	if err != nil {
		tb.Fatalf("%v; run go test %s -update to rewrite it", err, pkg)
	}
	if line, w, g, differ := firstDiff(want, got); differ {
		tb.Errorf("%s differs from the render at line %d (the file has %d lines, the render %d):\nwant: %s\n got: %s\nrun go test %s -update to accept, and review the diff",
			path, line, len(lines(want)), len(lines(got)), w, g, pkg)
	}
	return got
}

// renderOnce calls render and stops tb on its error.
func renderOnce(tb testing.TB, path string, render func() ([]byte, error)) []byte {
	tb.Helper()
	b, err := render()
	if err != nil {
		tb.Fatalf("rendering %s: %v", path, err)
	}
	return b
}

// write writes b to path, creating its directory, unless path holds b
// already, and says which it did (go test -v shows it).
func write(tb testing.TB, path string, b []byte) {
	tb.Helper()
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		tb.Logf("-update: %s is up to date", path)
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("-update: wrote %s (%d bytes); review the diff", path, len(b))
}

// firstDiff returns the number of the first line, from 1, in which a and
// b differ, and that line of each, quoted with its newline so that
// whitespace shows, or "(end of file)".
func firstDiff(a, b []byte) (line int, la, lb string, differ bool) {
	if bytes.Equal(a, b) {
		return 0, "", "", false
	}
	x, y := lines(a), lines(b)
	i := 0
	for i < len(x) && i < len(y) && bytes.Equal(x[i], y[i]) {
		i++
	}
	return i + 1, quoted(x, i), quoted(y, i), true
}

// lines splits b after each newline; a last line without one is a line.
func lines(b []byte) [][]byte {
	l := bytes.SplitAfter(b, []byte("\n"))
	if len(l[len(l)-1]) == 0 {
		l = l[:len(l)-1]
	}
	return l
}

// quoted returns line i of l, quoted, or "(end of file)" past the end.
func quoted(l [][]byte, i int) string {
	if i >= len(l) {
		return "(end of file)"
	}
	return strconv.Quote(string(l[i]))
}
